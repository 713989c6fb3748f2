#include "widgets/markdown_renderer.h"

#include "widgets/markdown_render_state.h"
#include "widgets/markdown_syntax.h"

#include <QFontMetricsF>
#include <QTextBlock>
#include <QTextCursor>
#include <QTextDocument>
#include <QTextFrame>
#include <QTextTable>
#include <algorithm>
#include <optional>

namespace moe::widgets {
namespace {

using namespace markdown;

// Walks the source block by block and writes the document through one cursor.
class Builder {
 public:
  Builder(QTextDocument* doc, QStringView src, int base, const MarkdownStyle& style)
      : src_(src), base_(base), style_(style), cursor_(doc) {
    text_.setForeground(style.text);
    QFontMetricsF fm(style.font);
    lineHeight_ = fm.height();
    indentStep_ = fm.horizontalAdvance(QStringLiteral("0000"));
    for (int a = 0; a <= src.size();) {
      int b = int(src.indexOf(u'\n', a));
      if (b < 0) b = int(src.size());
      int e = b;
      if (e > a && src[e - 1] == u'\r') --e;
      lines_.append({a, e});
      a = b + 1;
    }
  }

  // Renders from the start, or from `resume` (a block start of an earlier render of a prefix of this source,
  // with that render's runs): the document is cut there and the rest written anew. Records block starts.
  QVector<SourceRun> build(const MarkdownRenderState::Checkpoint* resume, QVector<SourceRun> previousRuns,
                           QVector<MarkdownRenderState::Checkpoint>* checkpoints) {
    // One edit block: the document is laid out once, at its end, rather than after every insert (a long
    // paragraph is written in many runs, and each insert re-laid the whole block: quadratic in its length).
    struct EditBlock {
      QTextCursor& cursor;
      explicit EditBlock(QTextCursor& c) : cursor(c) { cursor.beginEditBlock(); }
      ~EditBlock() { cursor.endEditBlock(); }
    } edit(cursor_);
    int i = 0;
    if (resume) {
      i = resume->line;
      cursor_.setPosition(resume->docPos);
      cursor_.movePosition(QTextCursor::End, QTextCursor::KeepAnchor);
      cursor_.removeSelectedText();
      cursor_.setBlockFormat(resume->blockFormat);
      cursor_.setBlockCharFormat(resume->blockCharFormat);
      runs_ = std::move(previousRuns);
      runs_.resize(resume->runCount);
      if (!runs_.isEmpty()) runs_.last().length = resume->lastRunLength;
      listIndents_ = resume->listIndents;
      lastBox_ = resume->lastBox;
      previous_ = Kind(resume->previousKind);
      reuse_ = resume->reuse;
      first_ = resume->first;
    }
    while (i < lines_.size()) {
      QStringView l = line(i);
      if (isBlank(l)) {
        ++i;
        continue;
      }
      checkpoints->append({i, cursor_.position(), int(runs_.size()),
                           runs_.isEmpty() ? 0 : runs_.last().length, cursor_.blockFormat(),
                           cursor_.blockCharFormat(), listIndents_, lastBox_, int(previous_), reuse_,
                           first_});
      if (auto fence = openingFence(l)) {
        i = codeBlock(i, *fence);
        continue;
      }
      int hs = 0, he = 0;
      if (int level = heading(l, &hs, &he)) {
        headingBlock(i, level, hs, he);
        ++i;
        continue;
      }
      if (isRule(l)) {
        rule();
        ++i;
        continue;
      }
      if (startsTable(i)) {
        i = table(i);
        continue;
      }
      if (isQuote(l)) {
        i = quote(i);
        continue;
      }
      if (auto marker = listMarker(l)) {
        i = listItem(i, *marker);
        continue;
      }
      i = paragraph(i);
    }
    // A frame or table at the end leaves an empty block after it: keep it from adding a blank line.
    if (reuse_ && !first_) {
      QTextBlockFormat bf;
      bf.setLineHeight(1, QTextBlockFormat::FixedHeight);
      QTextCharFormat cf;
      cf.setFontPointSize(1);
      cursor_.setBlockFormat(bf);
      cursor_.setBlockCharFormat(cf);
      if (lastBox_) {  // nor its bottom margin a gap under the message
        QTextFrameFormat ff = lastBox_->frameFormat();
        ff.setBottomMargin(0);
        lastBox_->setFrameFormat(ff);
      }
    }
    return std::move(runs_);
  }

 private:
  enum class Kind { None, Paragraph, ListItem, Heading, Box };

  QStringView line(int i) const { return src_.mid(lines_[i].start, lines_[i].end - lines_[i].start); }

  bool startsTable(int i) const {
    return line(i).contains(u'|') && i + 1 < lines_.size() && !tableSeparator(line(i + 1)).isEmpty();
  }

  // Whether line i begins a block other than a paragraph (so it ends the paragraph or list item before it).
  bool startsBlock(int i) const {
    QStringView l = line(i);
    int hs, he;
    return openingFence(l) || heading(l, &hs, &he) || isRule(l) || isQuote(l) || listMarker(l) ||
           startsTable(i);
  }

  qreal gapBefore(Kind kind) const {
    if (first_) return 0;
    if (kind == Kind::ListItem && previous_ == Kind::ListItem) return lineHeight_ * 0.2;
    if (kind == Kind::Heading) return lineHeight_ * 0.8;
    return lineHeight_ * 0.55;
  }

  void startBlock(QTextBlockFormat bf, const QTextCharFormat& cf, Kind kind) {
    bf.setTopMargin(gapBefore(kind));
    if (reuse_) {
      cursor_.setBlockFormat(bf);
      cursor_.setBlockCharFormat(cf);
      cursor_.setCharFormat(cf);
      reuse_ = false;
    } else {
      cursor_.insertBlock(bf, cf);
    }
    first_ = false;
    previous_ = kind;
  }

  // Source characters [pos, pos + len) as they are.
  void emitSource(int pos, int len, const QTextCharFormat& cf) {
    if (len <= 0) return;
    QString s = src_.mid(pos, len).toString();
    for (QChar& c : s)
      if (c == u'\r' || c == u'\n' || c == QChar::ParagraphSeparator) c = u' ';
    const int docPos = cursor_.position();
    if (!runs_.isEmpty()) {
      SourceRun& last = runs_.last();
      if (last.docPos + last.length == docPos && last.srcPos + last.length == base_ + pos) {
        last.length += len;
        cursor_.insertText(s, cf);
        return;
      }
    }
    runs_.append({docPos, base_ + pos, len});
    cursor_.insertText(s, cf);
  }

  void emitMadeUp(const QString& s, const QTextCharFormat& cf) { cursor_.insertText(s, cf); }

  QTextCharFormat codeFormat(QTextCharFormat cf) const {
    cf.setFontFamilies({style_.monoFont.family()});
    cf.setFontFixedPitch(true);
    cf.setFontStyleHint(QFont::Monospace);
    cf.setBackground(style_.codeBackground);
    return cf;
  }

  QTextCharFormat linkFormat(QTextCharFormat cf, const QString& href) const {
    cf.setAnchor(true);
    cf.setAnchorHref(href);
    cf.setForeground(style_.link);
    cf.setFontUnderline(true);
    return cf;
  }

  // Closing delimiter of `count` x `ch` for an opener ending at `from`, skipping code spans and escapes; -1
  // if none.
  int findCloser(int from, int end, QChar ch, int count) const {
    for (int j = from; j < end;) {
      const QChar c = src_[j];
      if (c == u'\\') {
        j += 2;
        continue;
      }
      if (c == u'`') {
        const int n = runLength(src_.left(end), j, u'`');
        const int close = findBackticks(j + n, end, n);
        j = close < 0 ? j + n : close + n;
        continue;
      }
      if (c == ch) {
        const int n = runLength(src_.left(end), j, ch);
        const bool afterText = !src_[j - 1].isSpace();
        const bool wordEnd = ch != u'_' || j + n >= end || !src_[j + n].isLetterOrNumber();
        if (n == count && afterText && wordEnd) return j;
        j += n;
        continue;
      }
      ++j;
    }
    return -1;
  }

  int findBackticks(int from, int end, int count) const {
    for (int j = from; j < end;) {
      if (src_[j] != u'`') {
        ++j;
        continue;
      }
      const int n = runLength(src_.left(end), j, u'`');
      if (n == count) return j;
      j += n;
    }
    return -1;
  }

  // Inline Markdown of source [start, end) (one line or one table cell) in format cf.
  void inlines(int start, int end, const QTextCharFormat& cf) {
    int literal = start;  // start of plain text not yet written
    auto flush = [&](int upTo) {
      emitSource(literal, upTo - literal, cf);
      literal = upTo;
    };
    int i = start;
    while (i < end) {
      const QChar c = src_[i];
      if (c == u'\\' && i + 1 < end && isAsciiPunctOrSymbol(src_[i + 1])) {
        flush(i);
        emitSource(i + 1, 1, cf);
        i += 2;
        literal = i;
        continue;
      }
      if (c == u'`') {
        const int n = runLength(src_.left(end), i, u'`');
        const int close = findBackticks(i + n, end, n);
        if (close < 0) {
          i += n;
          continue;
        }
        flush(i);
        int a = i + n, b = close;
        if (b - a >= 2 && src_[a] == u' ' && src_[b - 1] == u' ' && !isBlank(src_.mid(a, b - a))) ++a, --b;
        emitSource(a, b - a, codeFormat(cf));
        i = close + n;
        literal = i;
        continue;
      }
      if (c == u'*' || c == u'_' || c == u'~') {
        const int n = runLength(src_.left(end), i, c);
        const int d = c == u'~' ? (n == 2 ? 2 : 0) : (n <= 3 ? n : 0);
        const bool opens = d > 0 && i + n < end && !src_[i + n].isSpace() &&
                           (c != u'_' || i == start || !src_[i - 1].isLetterOrNumber());
        const int close = opens ? findCloser(i + n + 1, end, c, d) : -1;
        if (close < 0) {
          i += n;
          continue;
        }
        flush(i);
        QTextCharFormat inner = cf;
        if (c == u'~') {
          inner.setFontStrikeOut(true);
        } else {
          if (d != 2) inner.setFontItalic(true);
          if (d >= 2) inner.setFontWeight(QFont::Bold);
        }
        inlines(i + d, close, inner);
        i = close + d;
        literal = i;
        continue;
      }
      if (c == u'[' || (c == u'!' && i + 1 < end && src_[i + 1] == u'[')) {
        const int open = c == u'!' ? i + 1 : i;
        int depth = 0, closeBracket = -1;
        for (int j = open; j < end; ++j) {
          if (src_[j] == u'\\') {
            ++j;
          } else if (src_[j] == u'[') {
            ++depth;
          } else if (src_[j] == u']' && --depth == 0) {
            closeBracket = j;
            break;
          }
        }
        const int closeParen = closeBracket >= 0 && closeBracket + 1 < end && src_[closeBracket + 1] == u'('
                                   ? int(src_.left(end).indexOf(u')', closeBracket + 2))
                                   : -1;
        if (closeParen < 0) {
          i = open + 1;
          continue;
        }
        flush(i);
        QString href = src_.mid(closeBracket + 2, closeParen - closeBracket - 2).trimmed().toString();
        if (const int space = int(href.indexOf(u' ')); space > 0) href.truncate(space);  // drop a "title"
        inlines(open + 1, closeBracket, linkFormat(cf, href));
        i = closeParen + 1;
        literal = i;
        continue;
      }
      if ((c == u'h' || c == u'<') && (i == start || !src_[i - 1].isLetterOrNumber())) {
        const int urlStart = c == u'<' ? i + 1 : i;
        QStringView rest = src_.mid(urlStart, end - urlStart);
        if (rest.startsWith(u"https://") || rest.startsWith(u"http://")) {
          int e = urlStart;
          while (e < end && !src_[e].isSpace() && src_[e] != u'<' && src_[e] != u'>')
            ++e;
          if (c == u'<' && (e >= end || src_[e] != u'>')) {
            ++i;
            continue;
          }
          int urlEnd = e;
          while (c != u'<' && urlEnd > urlStart && QStringView(u".,;:!?)'\"").contains(src_[urlEnd - 1]))
            --urlEnd;
          flush(i);
          emitSource(urlStart, urlEnd - urlStart,
                     linkFormat(cf, src_.mid(urlStart, urlEnd - urlStart).toString()));
          i = c == u'<' ? e + 1 : urlEnd;
          literal = i;
          continue;
        }
      }
      ++i;
    }
    flush(end);
  }

  // Source lines [start, end) ranges, one after the other, separated by line breaks inside one block.
  void lineSequence(const QVector<Line>& parts, const QTextCharFormat& cf) {
    for (int k = 0; k < parts.size(); ++k) {
      if (k > 0) emitMadeUp(QString(QChar::LineSeparator), cf);
      inlines(parts[k].start, parts[k].end, cf);
    }
  }

  // A content range of line i with the leading and trailing blanks removed.
  Line trimmed(int i, int from) const {
    Line r{lines_[i].start + from, lines_[i].end};
    while (r.start < r.end && src_[r.start].isSpace())
      ++r.start;
    while (r.end > r.start && src_[r.end - 1].isSpace())
      --r.end;
    return r;
  }

  int paragraph(int i) {
    QVector<Line> parts{trimmed(i, 0)};
    int j = i + 1;
    while (j < lines_.size() && !isBlank(line(j)) && !startsBlock(j))
      parts.append(trimmed(j++, 0));
    startBlock(QTextBlockFormat(), text_, Kind::Paragraph);
    lineSequence(parts, text_);
    return j;
  }

  void headingBlock(int i, int level, int contentStart, int contentEnd) {
    static const qreal kScale[] = {1.45, 1.25, 1.12, 1.04, 1.0, 1.0};
    QTextCharFormat cf = text_;
    cf.setFontWeight(QFont::Bold);
    cf.setFontPointSize(style_.font.pointSizeF() * kScale[level - 1]);
    QTextBlockFormat bf;
    bf.setBottomMargin(lineHeight_ * 0.15);
    startBlock(bf, cf, Kind::Heading);
    inlines(lines_[i].start + contentStart, lines_[i].start + contentEnd, cf);
  }

  void rule() {
    QTextBlockFormat bf;
    bf.setProperty(QTextFormat::BlockTrailingHorizontalRulerWidth,
                   QTextLength(QTextLength::PercentageLength, 100));
    startBlock(bf, text_, Kind::Paragraph);
  }

  int quote(int i) {
    QVector<Line> parts;
    int j = i;
    for (; j < lines_.size() && isQuote(line(j)); ++j) {
      QStringView l = line(j);
      int from = leadingSpaces(l) + 1;
      parts.append(trimmed(j, from));
    }
    QTextCharFormat cf = text_;
    cf.setForeground(style_.muted);
    cf.setFontItalic(true);
    QTextBlockFormat bf;
    bf.setLeftMargin(indentStep_ * 0.75);
    startBlock(bf, cf, Kind::Paragraph);
    lineSequence(parts, cf);
    return j;
  }

  int listItem(int i, const ListMarker& m) {
    while (!listIndents_.isEmpty() && m.indent < listIndents_.last())
      listIndents_.removeLast();
    if (listIndents_.isEmpty() || m.indent > listIndents_.last()) listIndents_.append(m.indent);
    const int level = int(std::min<qsizetype>(listIndents_.size() - 1, 6));

    QVector<Line> parts{trimmed(i, m.contentStart)};
    int j = i + 1;
    while (j < lines_.size() && !isBlank(line(j)) && !startsBlock(j))
      parts.append(trimmed(j++, 0));

    static const QString kBullets[] = {QStringLiteral("\u2022"), QStringLiteral("\u25E6"),
                                       QStringLiteral("\u25AA")};
    const QString suffix = QStringLiteral("\u2002");  // en space after the marker
    const int markerLen = m.markerEnd - m.markerStart;
    const QString markerText = (m.ordered ? src_.mid(lines_[i].start + m.markerStart, markerLen).toString()
                                          : kBullets[std::min(level, 2)]) +
                               suffix;
    const qreal markerWidth = QFontMetricsF(style_.font).horizontalAdvance(markerText);
    QTextBlockFormat bf;
    bf.setLeftMargin(indentStep_ * 0.4 + level * indentStep_ * 0.9 + markerWidth);
    bf.setTextIndent(-markerWidth);
    startBlock(bf, text_, Kind::ListItem);
    if (m.ordered) {
      emitSource(lines_[i].start + m.markerStart, markerLen, text_);
      emitMadeUp(suffix, text_);
    } else {
      emitMadeUp(markerText, text_);
    }
    lineSequence(parts, text_);
    return j;
  }

  int codeBlock(int i, const Fence& fence) {
    QTextFrameFormat ff;
    ff.setBackground(style_.codeBackground);
    ff.setBorder(1);
    ff.setBorderBrush(style_.codeBorder);
    ff.setBorderStyle(QTextFrameFormat::BorderStyle_Solid);
    ff.setPadding(8);
    ff.setTopMargin(first_ ? 0 : lineHeight_ * 0.4);
    ff.setBottomMargin(lineHeight_ * 0.6);  // the layout ignores the top margin of the block after a frame
    QTextFrame* frame = cursor_.insertFrame(ff);

    QTextCharFormat code;
    code.setFont(style_.monoFont);
    code.setFontFixedPitch(true);
    code.setForeground(style_.text);
    bool firstLine = true;
    auto startLine = [&](const QTextCharFormat& cf) {
      if (firstLine) {
        cursor_.setBlockCharFormat(cf);
        cursor_.setCharFormat(cf);
        firstLine = false;
      } else {
        cursor_.insertBlock(QTextBlockFormat(), cf);
      }
    };
    if (fence.infoEnd > fence.infoStart) {
      QTextCharFormat label = text_;
      label.setForeground(style_.muted);
      label.setFontPointSize(style_.font.pointSizeF() * 0.85);
      startLine(label);
      emitSource(lines_[i].start + fence.infoStart, fence.infoEnd - fence.infoStart, label);
    }
    int j = i + 1;
    for (; j < lines_.size() && !closesFence(line(j), fence); ++j) {
      // The last source line of an unterminated fence (still streaming) is shown too; a blank one is not.
      if (j == lines_.size() - 1 && line(j).isEmpty()) break;
      QStringView l = line(j);
      const int strip = std::min<int>(fence.indent, leadingSpaces(l));
      startLine(code);
      emitSource(lines_[j].start + strip, int(l.size()) - strip, code);
    }
    if (firstLine) startLine(code);  // an empty block still shows its box

    cursor_.setPosition(frame->lastPosition());
    cursor_.movePosition(QTextCursor::NextBlock);
    lastBox_ = frame;
    reuse_ = true;
    first_ = false;
    previous_ = Kind::Box;
    return j < lines_.size() ? j + 1 : j;
  }

  int table(int i) {
    const QVector<Qt::Alignment> aligns = tableSeparator(line(i + 1));
    const int cols = int(aligns.size());
    QVector<int> rows{i};
    int j = i + 2;
    for (; j < lines_.size() && !isBlank(line(j)) && line(j).contains(u'|'); ++j)
      rows.append(j);

    QTextTableFormat tf;
    tf.setBorder(1);
    tf.setBorderBrush(style_.codeBorder);
    tf.setBorderStyle(QTextFrameFormat::BorderStyle_Solid);
    tf.setBorderCollapse(true);
    tf.setCellPadding(5);
    tf.setCellSpacing(0);
    tf.setHeaderRowCount(1);
    tf.setTopMargin(first_ ? 0 : lineHeight_ * 0.4);
    tf.setBottomMargin(lineHeight_ * 0.6);
    if (!reuse_) cursor_.insertBlock(QTextBlockFormat(), text_);
    QTextTable* t = cursor_.insertTable(int(rows.size()), cols, tf);
    for (int r = 0; r < rows.size(); ++r) {
      const QVector<Line> cells = splitRow(line(rows[r]));
      for (int c = 0; c < cols; ++c) {
        QTextTableCell cell = t->cellAt(r, c);
        QTextCharFormat cf = text_;
        if (r == 0) {
          QTextTableCellFormat cellFormat = cell.format().toTableCellFormat();
          cellFormat.setBackground(style_.codeBackground);
          cell.setFormat(cellFormat);
          cf.setFontWeight(QFont::Bold);
        }
        cursor_ = cell.firstCursorPosition();
        QTextBlockFormat bf;
        bf.setAlignment(aligns[c]);
        cursor_.setBlockFormat(bf);
        cursor_.setCharFormat(cf);
        if (c < cells.size())
          inlines(lines_[rows[r]].start + cells[c].start, lines_[rows[r]].start + cells[c].end, cf);
      }
    }
    cursor_.setPosition(t->lastPosition());
    cursor_.movePosition(QTextCursor::NextBlock);
    lastBox_ = t;
    reuse_ = true;
    first_ = false;
    previous_ = Kind::Box;
    return j;
  }

  QStringView src_;
  int base_ = 0;
  const MarkdownStyle& style_;
  QTextCursor cursor_;
  QTextCharFormat text_;
  QVector<Line> lines_;
  QVector<SourceRun> runs_;
  QVector<int> listIndents_;
  qreal lineHeight_ = 16;
  qreal indentStep_ = 32;
  QTextFrame* lastBox_ = nullptr;  // the last code box or table
  bool reuse_ = true;  // the cursor's block is empty and unformatted: fill it rather than insert a new one
  bool first_ = true;
  Kind previous_ = Kind::None;
};

}  // namespace

QVector<SourceRun> MarkdownRenderer::render(QTextDocument* doc, QStringView source, int sourceBase) const {
  MarkdownRenderState state;
  return update(doc, source, sourceBase, &state);
}

const QVector<SourceRun>& MarkdownRenderer::update(QTextDocument* doc, QStringView source, int sourceBase,
                                                   MarkdownRenderState* state) const {
  // Only the old text's last line can read differently now (it may have been cut mid-line). Where a block
  // begins and ends is decided by the line that begins it and the one after (a table's separator row), so
  // blocks from the last one that begins two lines or more before that last line are kept; the rest is
  // rendered again.
  QVector<MarkdownRenderState::Checkpoint> checkpoints;
  const bool grows = state->document == doc && state->sourceBase == sourceBase &&
                     source.size() >= state->source.size() && source.startsWith(state->source);
  const int lastOldLine = grows ? int(state->source.count(u'\n')) : 0;
  int keep = -1;
  if (grows) {
    checkpoints = std::move(state->checkpoints);
    for (int c = int(checkpoints.size()) - 1; c >= 0 && keep < 0; --c)
      if (checkpoints[c].line + 1 < lastOldLine) keep = c;
  }
  if (keep >= 0) {
    const MarkdownRenderState::Checkpoint resume = checkpoints[keep];
    checkpoints.resize(keep);
    state->runs =
        Builder(doc, source, sourceBase, style_).build(&resume, std::move(state->runs), &checkpoints);
    ++state->incrementalRenders;
  } else {
    checkpoints.clear();
    doc->clear();
    doc->setDefaultFont(style_.font);
    state->runs = Builder(doc, source, sourceBase, style_).build(nullptr, {}, &checkpoints);
    ++state->fullRenders;
  }
  state->document = doc;
  state->source = source.toString();
  state->sourceBase = sourceBase;
  state->checkpoints = std::move(checkpoints);
  return state->runs;
}

int MarkdownRenderer::sourceAt(const QVector<SourceRun>& runs, int docPos) {
  auto it = std::upper_bound(runs.begin(), runs.end(), docPos,
                             [](int pos, const SourceRun& r) { return pos < r.docPos; });
  if (it == runs.begin()) return -1;
  --it;
  return docPos < it->docPos + it->length ? it->srcPos + (docPos - it->docPos) : -1;
}

int MarkdownRenderer::documentAt(const QVector<SourceRun>& runs, int srcPos) {
  auto it = std::upper_bound(runs.begin(), runs.end(), srcPos,
                             [](int pos, const SourceRun& r) { return pos < r.srcPos; });
  if (it == runs.begin()) return -1;
  --it;
  return srcPos < it->srcPos + it->length ? it->docPos + (srcPos - it->srcPos) : -1;
}

}  // namespace moe::widgets
