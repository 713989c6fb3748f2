// Builds a QTextDocument from the Markdown an LLM writes (fenced code in a monospace box, inline code,
// headings, bullet and numbered lists, block quotes, GFM tables, rules, emphasis, strike-through, links) and
// keeps which document characters show which source characters, so a hover over rendered text finds the token
// it came from.
//
// Our own converter rather than QTextDocument::setMarkdown: Qt's keeps no source positions, leaves code
// blocks without a box and restarts numbered lists that a code block interrupts. Single newlines inside a
// paragraph are line breaks (as chat front ends render model output), not spaces. Raw HTML is shown as text.
#pragma once

#include <QColor>
#include <QFont>
#include <QStringView>
#include <QVector>

class QTextDocument;

namespace moe::widgets {

struct MarkdownRenderState;

struct MarkdownStyle {
  QFont font;      // prose
  QFont monoFont;  // code
  QColor text;
  QColor muted;  // block quotes, code-block language labels
  QColor codeBackground;
  QColor codeBorder;
  QColor link;
};

// `length` document characters from `docPos` on show the source characters from `srcPos` on, one for one.
// Characters the renderer made up (bullets, the spaces after list markers) belong to no run.
struct SourceRun {
  int docPos = 0;
  int srcPos = 0;
  int length = 0;
};

class MarkdownRenderer {
 public:
  explicit MarkdownRenderer(const MarkdownStyle& style) : style_(style) {}

  // Replaces doc's content with `source` rendered. Source positions in the result are offset by sourceBase
  // (the position of `source` inside a longer text). Runs come sorted by docPos, and then also by srcPos.
  QVector<SourceRun> render(QTextDocument* doc, QStringView source, int sourceBase = 0) const;
  // The same, but when `source` extends the text `state` last rendered into doc, only its last top-level
  // block is redone (streaming stays cheap however long the answer). The style must not have changed since
  // (reset state).
  const QVector<SourceRun>& update(QTextDocument* doc, QStringView source, int sourceBase,
                                   MarkdownRenderState* state) const;

  // The source position shown at document position docPos, or -1 (made-up text, or none).
  static int sourceAt(const QVector<SourceRun>& runs, int docPos);
  // The document position showing source position srcPos, or -1 (markup that is not shown).
  static int documentAt(const QVector<SourceRun>& runs, int srcPos);

 private:
  MarkdownStyle style_;
};

}  // namespace moe::widgets
