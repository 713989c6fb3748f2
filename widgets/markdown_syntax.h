// Line-level Markdown syntax as models write it: which block a source line opens (code fence, heading, rule,
// list item, quote, table row) and where its parts lie. Pure functions of the text; MarkdownRenderer uses
// them.
#pragma once

#include <QStringView>
#include <QVector>
#include <Qt>
#include <optional>

namespace moe::widgets::markdown {

struct Line {
  int start = 0;  // [start, end) in the source, without the line break
  int end = 0;
};

bool isBlank(QStringView s);
int leadingSpaces(QStringView s);              // spaces and tabs
int indentColumns(QStringView s);              // visual indent, a tab counting four
int runLength(QStringView s, int i, QChar c);  // how many c from s[i] on

struct Fence {
  QChar ch;
  int length = 0;
  int indent = 0;     // spaces before the opening fence, removed from the code lines too
  int infoStart = 0;  // language, relative to the line
  int infoEnd = 0;
};
// Fences may be indented any amount (models indent code inside list items by 3 or 4 spaces).
std::optional<Fence> openingFence(QStringView line);
bool closesFence(QStringView line, const Fence& fence);

// "## Title": level 1..6 and the content range relative to the line, or level 0.
int heading(QStringView line, int* contentStart, int* contentEnd);
bool isRule(QStringView line);  // ---, ***, ___

struct ListMarker {
  int indent = 0;       // columns
  int markerStart = 0;  // relative to the line
  int markerEnd = 0;
  int contentStart = 0;
  bool ordered = false;
};
std::optional<ListMarker> listMarker(QStringView line);
bool isQuote(QStringView line);

// Cells of a table row as ranges relative to the line, split at '|' outside code spans and escapes.
QVector<Line> splitRow(QStringView line);
// "|:---|---:|": the columns' alignments, or empty when the line is no separator row.
QVector<Qt::Alignment> tableSeparator(QStringView line);

bool isAsciiPunctOrSymbol(QChar c);  // what a backslash escapes

}  // namespace moe::widgets::markdown
