// What one Markdown render leaves behind so that the next render of the same text grown at its end (a
// streaming answer) redoes only the last top-level block: the source and document positions where each
// top-level block began, and the renderer's state there. Owned by whoever owns the document; MarkdownRenderer
// fills it in.
#pragma once

#include <QString>
#include <QTextFormat>
#include <QVector>

#include "widgets/markdown_renderer.h"

class QTextDocument;
class QTextFrame;

namespace moe::widgets {

struct MarkdownRenderState {
  struct Checkpoint {
    int line = 0;                  // source line the block begins at
    int docPos = 0;                // cursor position before the block was started
    int runCount = 0;              // source runs written before it
    int lastRunLength = 0;         // length of the run before it then (runs merge)
    QTextBlockFormat blockFormat;  // of the block holding docPos: cutting after an empty block loses it
    QTextCharFormat blockCharFormat;
    QVector<int> listIndents;
    QTextFrame* lastBox = nullptr;
    int previousKind = 0;
    bool reuse = true;
    bool first = true;
  };

  const QTextDocument* document = nullptr;  // the document rendered into; another one means a full render
  QString source;                           // what was rendered, for the prefix check
  int sourceBase = 0;
  QVector<SourceRun> runs;
  QVector<Checkpoint> checkpoints;
  int fullRenders = 0;  // counters for tests and profiling
  int incrementalRenders = 0;

  void reset() {
    document = nullptr;
    source.clear();
    runs.clear();
    checkpoints.clear();
  }
};

}  // namespace moe::widgets
