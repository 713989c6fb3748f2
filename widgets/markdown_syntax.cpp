#include "widgets/markdown_syntax.h"

#include <algorithm>

namespace moe::widgets::markdown {

bool isBlank(QStringView s) {
  return std::all_of(s.begin(), s.end(), [](QChar c) { return c.isSpace(); });
}

int leadingSpaces(QStringView s) {
  int n = 0;
  while (n < s.size() && (s[n] == u' ' || s[n] == u'\t'))
    ++n;
  return n;
}

int indentColumns(QStringView s) {
  int cols = 0;
  for (QChar c : s) {
    if (c == u' ') {
      ++cols;
    } else if (c == u'\t') {
      cols += 4;
    } else {
      break;
    }
  }
  return cols;
}

int runLength(QStringView s, int i, QChar c) {
  int n = 0;
  while (i + n < s.size() && s[i + n] == c)
    ++n;
  return n;
}

std::optional<Fence> openingFence(QStringView line) {
  const int ws = leadingSpaces(line);
  if (ws >= line.size() || (line[ws] != u'`' && line[ws] != u'~')) return std::nullopt;
  Fence f;
  f.ch = line[ws];
  f.length = runLength(line, ws, f.ch);
  if (f.length < 3) return std::nullopt;
  f.indent = ws;
  int a = ws + f.length, b = int(line.size());
  while (a < b && line[a].isSpace())
    ++a;
  while (b > a && line[b - 1].isSpace())
    --b;
  if (f.ch == u'`' && line.mid(a, b - a).contains(u'`')) return std::nullopt;
  // Only the first word of the info string is the language.
  int w = a;
  while (w < b && !line[w].isSpace())
    ++w;
  f.infoStart = a;
  f.infoEnd = w;
  return f;
}

bool closesFence(QStringView line, const Fence& f) {
  const int ws = leadingSpaces(line);
  const int n = runLength(line, ws, f.ch);
  return n >= f.length && isBlank(line.mid(ws + n));
}

int heading(QStringView line, int* contentStart, int* contentEnd) {
  const int ws = leadingSpaces(line);
  if (ws > 3) return 0;
  const int level = runLength(line, ws, u'#');
  if (level < 1 || level > 6) return 0;
  int a = ws + level;
  if (a < line.size() && line[a] != u' ' && line[a] != u'\t') return 0;
  while (a < line.size() && line[a].isSpace())
    ++a;
  int b = int(line.size());
  while (b > a && line[b - 1].isSpace())
    --b;
  int closing = b;  // an optional closing run of '#' preceded by a space
  while (closing > a && line[closing - 1] == u'#')
    --closing;
  if (closing < b && (closing == a || line[closing - 1] == u' ')) {
    b = closing;
    while (b > a && line[b - 1].isSpace())
      --b;
  }
  *contentStart = a;
  *contentEnd = b;
  return level;
}

bool isRule(QStringView line) {
  const int ws = leadingSpaces(line);
  if (ws > 3 || ws >= line.size()) return false;
  const QChar c = line[ws];
  if (c != u'-' && c != u'*' && c != u'_') return false;
  int count = 0;
  for (int i = ws; i < line.size(); ++i) {
    if (line[i] == c) {
      ++count;
    } else if (!line[i].isSpace()) {
      return false;
    }
  }
  return count >= 3;
}

std::optional<ListMarker> listMarker(QStringView line) {
  ListMarker m;
  m.indent = indentColumns(line);
  int i = leadingSpaces(line);
  m.markerStart = i;
  if (i < line.size() && (line[i] == u'-' || line[i] == u'*' || line[i] == u'+')) {
    ++i;
  } else {
    int digits = 0;
    while (i < line.size() && line[i].isDigit() && digits < 9)
      ++i, ++digits;
    if (digits == 0 || i >= line.size() || (line[i] != u'.' && line[i] != u')')) return std::nullopt;
    ++i;
    m.ordered = true;
  }
  m.markerEnd = i;
  if (i < line.size() && line[i] != u' ' && line[i] != u'\t') return std::nullopt;
  while (i < line.size() && line[i].isSpace())
    ++i;
  m.contentStart = i;
  return m;
}

bool isQuote(QStringView line) {
  const int ws = leadingSpaces(line);
  return ws <= 3 && ws < line.size() && line[ws] == u'>';
}

QVector<Line> splitRow(QStringView line) {
  QVector<Line> cells;
  int a = 0, b = int(line.size());
  while (a < b && line[a].isSpace())
    ++a;
  while (b > a && line[b - 1].isSpace())
    --b;
  if (a < b && line[a] == u'|') ++a;
  if (b > a && line[b - 1] == u'|' && (b - 2 < a || line[b - 2] != u'\\')) --b;
  int cellStart = a;
  bool inCode = false;
  for (int i = a; i <= b; ++i) {
    if (i < b && line[i] == u'\\') {
      ++i;
      continue;
    }
    if (i < b && line[i] == u'`') inCode = !inCode;
    if (i == b || (line[i] == u'|' && !inCode)) {
      int s = cellStart, e = i;
      while (s < e && line[s].isSpace())
        ++s;
      while (e > s && line[e - 1].isSpace())
        --e;
      cells.append({s, e});
      cellStart = i + 1;
    }
  }
  return cells;
}

QVector<Qt::Alignment> tableSeparator(QStringView line) {
  if (!line.contains(u'-')) return {};
  QVector<Qt::Alignment> aligns;
  for (const Line& cell : splitRow(line)) {
    QStringView c = line.mid(cell.start, cell.end - cell.start);
    if (c.isEmpty()) return {};
    const bool left = c.front() == u':', right = c.back() == u':';
    QStringView dashes = c.mid(left ? 1 : 0, c.size() - (left ? 1 : 0) - (right ? 1 : 0));
    if (dashes.isEmpty() || !std::all_of(dashes.begin(), dashes.end(), [](QChar ch) { return ch == u'-'; }))
      return {};
    aligns.append(left && right ? Qt::AlignHCenter : right ? Qt::AlignRight : Qt::AlignLeft);
  }
  return aligns;
}

bool isAsciiPunctOrSymbol(QChar c) {
  return c.unicode() < 128 && (c.isPunct() || c.isSymbol());
}

}  // namespace moe::widgets::markdown
