// ChatView and its parts: Markdown rendering (code boxes, source mapping), folded reasoning, streaming with
// one render per frame, token hover tooltips, Edit / branch / Copy / Regenerate signals, and a screenshot to
// look at.
#include <QAbstractButton>
#include <QApplication>
#include <QClipboard>
#include <QDir>
#include <QElapsedTimer>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRandomGenerator>
#include <QScrollBar>
#include <QSignalSpy>
#include <QTextBlock>
#include <QTextDocument>
#include <QTextFrame>
#include <QTextTable>
#include <QToolButton>
#include <QToolTip>
#include <QtTest>
#include <cmath>

#include "widgets/chat_message_item.h"
#include "widgets/chat_reasoning.h"
#include "widgets/chat_text_view.h"
#include "widgets/chat_theme.h"
#include "widgets/chat_token_tooltip.h"
#include "widgets/chat_view.h"
#include "widgets/markdown_render_state.h"
#include "widgets/markdown_renderer.h"

using namespace moe::widgets;

namespace {

MarkdownStyle testStyle() {
  const ChatTheme t = ChatTheme::fromPalette(QApplication::palette(), QApplication::font());
  return {t.font, t.monoFont, t.text, t.muted, t.codeBackground, t.codeBorder, t.link};
}

ChatTextView* body(ChatView& view, int index) {
  return view.messageItem(index)->findChild<ChatTextView*>(QStringLiteral("bodyView"));
}

QString sampleMarkdown() {
  return QStringLiteral(
      "# Plan\n\nReverse it **in place**, flipping each `next`:\n\n"
      "```python\ndef reverse(head):\n    prev = None\n    while head:\n        head.next, prev, head = "
      "prev, head, "
      "head.next\n    return prev\n```\n\n"
      "1. `prev` holds the reversed part.\n2. Each step moves one node.\n   - nested *point*\n\n"
      "| approach | time |\n|---|--:|\n| iterative | O(n) |\n| recursive | O(n) |\n\n"
      "> A quote\n> on two lines\n\n---\n\nSee [the docs](https://docs.python.org/3/) and ~~not~~ this.\n\n"
      "```\nunterminated fence at the end");
}

template <typename T>
T* child(ChatView& view, int index, const char* name) {
  return view.messageItem(index)->findChild<T*>(QLatin1String(name));
}

// Frames directly inside the root frame that are not tables.
QList<QTextFrame*> codeFrames(QTextDocument* doc) {
  QList<QTextFrame*> frames;
  for (QTextFrame* f : doc->rootFrame()->childFrames())
    if (!qobject_cast<QTextTable*>(f)) frames.append(f);
  return frames;
}

QString frameText(QTextFrame* frame) {
  QString s;
  for (auto it = frame->begin(); !it.atEnd(); ++it) {
    if (it.currentBlock().isValid()) s += it.currentBlock().text() + QLatin1Char('\n');
  }
  return s;
}

void showAndSettle(QWidget& w) {
  w.show();
  QVERIFY(QTest::qWaitForWindowExposed(&w));
  QTest::qWait(30);
}

}  // namespace

class TestChatView : public QObject {
  Q_OBJECT

 private slots:
  void markdownCodeBlockIsAMonospaceBox() {
    QTextDocument doc;
    const QString src = QStringLiteral(
        "Intro with `inline()` code.\n\n```python\ndef f(x):\n    return x * 2\n```\n\nAfter.");
    MarkdownRenderer(testStyle()).render(&doc, src);
    const QString plain = doc.toPlainText();
    QVERIFY2(!plain.contains(QStringLiteral("```")), qPrintable(plain));
    QVERIFY(!plain.contains(QLatin1Char('`')));
    const QList<QTextFrame*> frames = codeFrames(&doc);
    QCOMPARE(frames.size(), 1);
    QTextFrame* code = frames.first();
    QVERIFY(code->frameFormat().background().style() != Qt::NoBrush);
    QVERIFY(code->frameFormat().border() > 0);
    const QString text = frameText(code);
    QVERIFY2(text.contains(QStringLiteral("def f(x):")), qPrintable(text));
    QVERIFY(text.contains(QStringLiteral("    return x * 2")));  // indentation kept
    QVERIFY(text.contains(QStringLiteral("python")));            // the language label
    // The code lines are set in a fixed-pitch font.
    QTextCursor c(&doc);
    c.setPosition(int(plain.indexOf(QStringLiteral("def f"))) + 1);
    QVERIFY(c.charFormat().fontFixedPitch());
    QCOMPARE(doc.frameAt(c.position()), code);
    // Inline code too, outside the box; prose is not.
    c.setPosition(int(plain.indexOf(QStringLiteral("inline()"))) + 1);
    QVERIFY(c.charFormat().fontFixedPitch());
    c.setPosition(int(plain.indexOf(QStringLiteral("Intro"))) + 1);
    QVERIFY(!c.charFormat().fontFixedPitch());
    QVERIFY(plain.contains(QStringLiteral("After.")));
  }

  void markdownBlocksAndInlines() {
    QTextDocument doc;
    const QString src = QStringLiteral(
        "# Title\n\nSome **bold**, *italic*, ~~gone~~ and a [link](https://example.org).\n\n"
        "- one\n- two\n  - nested\n\n3. three\n4. four\n\n> quoted\n\n| a | b |\n|---|--:|\n| 1 | 2 "
        "|\n\nsnake_case_name");
    MarkdownRenderer(testStyle()).render(&doc, src);
    const QString plain = doc.toPlainText();
    QVERIFY2(plain.contains(QStringLiteral("Title")) && !plain.contains(QStringLiteral("# Title")),
             qPrintable(plain));
    QVERIFY(!plain.contains(QStringLiteral("**")));
    QVERIFY(plain.contains(QStringLiteral("\u2022\u2002one")));
    QVERIFY(plain.contains(QStringLiteral("3.\u2002three")));    // numbers as written, not renumbered
    QVERIFY(plain.contains(QStringLiteral("snake_case_name")));  // intraword underscores are not emphasis
    QTextCursor c(&doc);
    c.setPosition(int(plain.indexOf(QStringLiteral("bold"))) + 1);
    QCOMPARE(c.charFormat().fontWeight(), int(QFont::Bold));
    c.setPosition(int(plain.indexOf(QStringLiteral("italic"))) + 1);
    QVERIFY(c.charFormat().fontItalic());
    c.setPosition(int(plain.indexOf(QStringLiteral("gone"))) + 1);
    QVERIFY(c.charFormat().fontStrikeOut());
    c.setPosition(int(plain.indexOf(QStringLiteral("link"))) + 1);
    QCOMPARE(c.charFormat().anchorHref(), QStringLiteral("https://example.org"));
    bool table = false;
    for (QTextFrame* f : doc.rootFrame()->childFrames())
      if (auto* t = qobject_cast<QTextTable*>(f)) table = t->rows() == 2 && t->columns() == 2;
    QVERIFY(table);
  }

  void markdownKeepsSourcePositions() {
    QTextDocument doc;
    const QString src = QStringLiteral("a **bold** `code` end");
    const QVector<SourceRun> runs = MarkdownRenderer(testStyle()).render(&doc, src, 100);
    const QString plain = doc.toPlainText();
    QCOMPARE(plain, QStringLiteral("a bold code end"));
    for (int d = 0; d < plain.size(); ++d) {
      const int s = MarkdownRenderer::sourceAt(runs, d);
      QVERIFY(s >= 100);
      QCOMPARE(src[s - 100], plain[d]);
      QCOMPARE(MarkdownRenderer::documentAt(runs, s), d);
    }
    QCOMPARE(MarkdownRenderer::documentAt(runs, 100 + 2), -1);  // the "**" is not shown
  }

  // Streaming renders only the last block again; the result must equal a render from scratch at every step.
  void incrementalRenderEqualsFullRender() {
    const MarkdownRenderer renderer(testStyle());
    const QString src = sampleMarkdown();
    QTextDocument incremental, full;
    MarkdownRenderState state;
    for (int n = 0; n <= src.size(); n += (n % 7) + 1) {
      const QStringView prefix = QStringView(src).left(n);
      const QVector<SourceRun> a = renderer.update(&incremental, prefix, 5, &state);
      const QVector<SourceRun> b = renderer.render(&full, prefix, 5);
      QCOMPARE(incremental.toPlainText(), full.toPlainText());
      QCOMPARE(incremental.toHtml(), full.toHtml());
      QCOMPARE(a.size(), b.size());
      for (int r = 0; r < a.size(); ++r) {
        QCOMPARE(a[r].docPos, b[r].docPos);
        QCOMPARE(a[r].srcPos, b[r].srcPos);
        QCOMPARE(a[r].length, b[r].length);
      }
    }
    QVERIFY(state.fullRenders <= 6);  // only while the text is too short to hold a block that cannot change
    QVERIFY(state.incrementalRenders > 100);
  }

  // Random strings of Markdown punctuation: no crash, every mapped character is the source character it
  // claims, and streaming them character by character gives the same document as a render from scratch.
  void markdownSurvivesGarbage() {
    const MarkdownRenderer renderer(testStyle());
    const QString alphabet = QStringLiteral("*_`~[]()!|#>-+ \n\n1.:\\ax\t<http://h.io>");
    QRandomGenerator rng(1234);
    for (int round = 0; round < 200; ++round) {
      QString src;
      const int n = int(rng.bounded(1, 120));
      for (int k = 0; k < n; ++k)
        src += alphabet[int(rng.bounded(alphabet.size()))];
      QTextDocument full, incremental;
      const QVector<SourceRun> runs = renderer.render(&full, src);
      const QString plain = full.toPlainText();
      for (const SourceRun& r : runs) {
        for (int k = 0; k < r.length; ++k) {
          const QChar shown = plain[r.docPos + k], source = src[r.srcPos + k];
          QVERIFY2(shown == source || (source.isSpace() && shown.isSpace()), qPrintable(src));
        }
      }
      MarkdownRenderState state;
      QTextDocument scratch;
      for (int m = 0; m <= src.size(); ++m) {
        const QStringView prefix = QStringView(src).left(m);
        renderer.update(&incremental, prefix, 0, &state);
        renderer.render(&scratch, prefix);
        QVERIFY2(incremental.toHtml() == scratch.toHtml(), qPrintable(prefix.toString()));
      }
    }
  }

  void reasoningSplit() {
    auto r = ReasoningSplit::of(u"<think>plan</think>answer");
    QVERIFY(r.present && r.closed);
    QCOMPARE(r.thinkStart, 7);
    QCOMPARE(r.thinkEnd, 11);
    QCOMPARE(r.answerStart, 19);
    r = ReasoningSplit::of(u"<think>still thinking");
    QVERIFY(r.present && !r.closed);
    QCOMPARE(r.answerStart, 21);
    r = ReasoningSplit::of(
        u"opened by the template</think>answer");  // DeepSeek-R1 / Qwen3 thinking templates
    QVERIFY(r.present && r.closed);
    QCOMPARE(r.thinkStart, 0);
    r = ReasoningSplit::of(u"<thi");  // streaming the tag itself: nothing shown yet
    QVERIFY(!r.present);
    QCOMPARE(r.answerStart, 4);
    QCOMPARE(ReasoningSplit::wordCount(u"  two\nwords "), 2);
  }

  void reasoningIsFoldedUntilToggled() {
    ChatView view;
    view.resize(800, 600);
    const int i = view.addMessage(
        ChatRole::Assistant,
        QStringLiteral("<think>\nThe user wants a secret plan here.\n</think>\n\nThe answer is 4."));
    showAndSettle(view);
    auto* toggle = child<QToolButton>(view, i, "reasoningToggle");
    auto* reasoning = child<ChatTextView>(view, i, "reasoningView");
    QVERIFY(toggle && reasoning);
    QVERIFY(toggle->isVisible());
    QCOMPARE(toggle->text(), QStringLiteral("Reasoning (7 words) \u25B8"));
    QVERIFY(!reasoning->isVisible());
    QVERIFY(!body(view, i)->toPlainText().contains(QStringLiteral("secret")));
    QVERIFY(body(view, i)->toPlainText().contains(QStringLiteral("The answer is 4.")));
    QVERIFY(!body(view, i)->toPlainText().contains(QStringLiteral("think")));

    QTest::mouseClick(toggle, Qt::LeftButton);
    QVERIFY(reasoning->isVisible());
    QVERIFY(reasoning->toPlainText().contains(QStringLiteral("secret plan here")));
    QVERIFY(toggle->text().endsWith(QStringLiteral("\u25BE")));
    QTest::mouseClick(toggle, Qt::LeftButton);
    QVERIFY(!reasoning->isVisible());
  }

  void streamingAppendsTextAndCoalescesRenders() {
    ChatView view;
    view.resize(800, 600);
    const int user = view.addMessage(ChatRole::User, QStringLiteral("Write a long answer."));
    const int earlier = view.addMessage(ChatRole::Assistant, QStringLiteral("An *earlier* answer."));
    showAndSettle(view);
    const int before = view.renderCount();
    QCOMPARE(view.renderCount(user), 1);

    const int a = view.beginAssistant();
    QVERIFY(view.isStreaming());
    QString expected;
    QElapsedTimer clock;
    clock.start();
    qint64 busyNs = 0;  // time spent inside appendToken and the event loop, i.e. the GUI thread's cost
    for (int t = 0; t < 500; ++t) {
      const QString piece = t % 40 == 39 ? QStringLiteral("\n\n") : QStringLiteral("w%1 ").arg(t);
      expected += piece;
      QElapsedTimer busy;
      busy.start();
      view.appendToken(piece, std::log(0.5), {{piece, std::log(0.5)}, {QStringLiteral("x"), std::log(0.25)}});
      QCoreApplication::processEvents();
      busyNs += busy.nsecsElapsed();
      if (t % 2 == 1) QTest::qWait(2);  // about 500 tokens per second, faster than any model here
    }
    const qint64 elapsedMs = clock.elapsed();
    view.finishAssistant(QStringLiteral("500 tokens \u00B7 400 tok/s"));
    QVERIFY(!view.isStreaming());

    QCOMPARE(view.messageText(a), expected);
    const QString shown = body(view, a)->toPlainText();
    QVERIFY(shown.contains(QStringLiteral("w0 w1 w2")));
    QVERIFY(shown.contains(QStringLiteral("w498")));
    // One render per frame at most (plus the final flush), never one per token; other messages untouched.
    const int renders = view.renderCount(a);
    qInfo("500 tokens in %lld ms: %d renders, %.1f ms of GUI-thread work", elapsedMs, renders, busyNs / 1e6);
    QVERIFY2(renders <= elapsedMs / 16 + 2,
             qPrintable(QStringLiteral("%1 renders in %2 ms").arg(renders).arg(elapsedMs)));
    QVERIFY(renders >= 2);  // and it did show progress while streaming
    QCOMPARE(view.renderCount(user), 1);
    QCOMPARE(view.renderCount(earlier), 1);
    QCOMPARE(view.renderCount(), before + renders);
    QVERIFY2(busyNs < 3'000'000'000LL, "streaming 500 tokens kept the GUI thread busy for over 3 s");
    QCOMPARE(child<QLabel>(view, a, "statsLabel")->text(), QStringLiteral("500 tokens \u00B7 400 tok/s"));
  }

  // A long answer (about 4000 tokens): each streamed frame renders only the last block, so a frame's cost
  // does not grow with the answer (DESIGN: no GUI frame over 50 ms while generating).
  void longAnswerStreamsInConstantTime() {
    ChatView view;
    view.resize(1000, 700);
    showAndSettle(view);
    const int a = view.beginAssistant();
    const QString chunk = QStringLiteral(
        "Some prose with **bold**, `code` and a [link](https://example.org) that goes on for a while.\n\n"
        "- a list item\n- another one with *emphasis*\n\n```cpp\nint main() {\n  return 0;\n}\n```\n\n");
    qint64 firstNs = 0, lastNs = 0, maxNs = 0;
    for (int i = 0; i < 110; ++i) {  // ~20k characters
      view.appendToken(chunk);
      QElapsedTimer clock;
      clock.start();
      view.flush();
      QCoreApplication::processEvents();  // the layout pass the render causes is part of the frame
      const qint64 ns = clock.nsecsElapsed();
      if (i < 10) firstNs += ns;
      if (i >= 100) lastNs += ns;
      maxNs = std::max(maxNs, ns);
    }
    qInfo("%d characters: first 10 frames %.1f ms, last 10 frames %.1f ms, slowest %.1f ms",
          int(view.messageText(a).size()), firstNs / 1e6, lastNs / 1e6, maxNs / 1e6);
    // Flat: the last frames (20k characters in) cost about what the first did. Loose bounds: shared CI
    // machines.
    QVERIFY2(lastNs < 3 * firstNs + 30'000'000, "frames got slower as the answer grew");
    QVERIFY2(maxNs < 200'000'000, qPrintable(QStringLiteral("a frame took %1 ms").arg(maxNs / 1e6)));
    const auto* text = body(view, a);
    QVERIFY(text->renderState().incrementalRenders >= 100);
    view.finishAssistant();
  }

  void tokenHoverShowsProbabilityAndAlternatives() {
    ChatView view;
    view.resize(800, 600);
    view.addMessage(ChatRole::User, QStringLiteral("Capital of France?"));
    const int a = view.beginAssistant();
    const QVector<TokenAlternative> alts{{QStringLiteral("Paris"), std::log(0.873)},
                                         {QStringLiteral("Lyon"), std::log(0.05)},
                                         {QStringLiteral(" London"), std::log(0.02)}};
    view.appendToken(QStringLiteral("It is "), std::log(0.9));
    view.appendToken(QStringLiteral("**"), std::log(0.6));
    view.appendToken(QStringLiteral("Paris"), std::log(0.873), alts);
    view.appendToken(QStringLiteral("**"), std::log(0.99));
    view.appendToken(QStringLiteral("."), std::log(0.97));
    view.finishAssistant();
    showAndSettle(view);

    QVERIFY(view.tokenRect(a, 1).isEmpty());  // markup is not shown, so it has no place
    const QRect paris = view.tokenRect(a, 2);
    QVERIFY(!paris.isEmpty());
    QVERIFY(view.rect().contains(paris.center()));
    QSignalSpy hovered(&view, &ChatView::tokenHovered);
    const QString tip = view.hoverAt(paris.center());
    QVERIFY2(tip.contains(QStringLiteral("87.3 %")), qPrintable(tip));
    QVERIFY(tip.contains(QStringLiteral("Lyon")));
    QVERIFY(tip.contains(QStringLiteral("5.0 %")));
    QVERIFY(tip.contains(QStringLiteral("\u2423London")));  // white space made visible
    QCOMPARE(hovered.count(), 1);
    QCOMPARE(hovered.at(0).at(0).toInt(), a);
    QCOMPARE(hovered.at(0).at(1).toInt(), 2);

    // The real path: Qt's tool-tip event on the message's text.
    ChatTextView* text = body(view, a);
    const QPoint local = text->viewport()->mapFrom(&view, paris.center());
    QHelpEvent help(QEvent::ToolTip, local, text->viewport()->mapToGlobal(local));
    QApplication::sendEvent(text->viewport(), &help);
    QCOMPARE(hovered.count(), 2);
    QCOMPARE(hovered.at(1).at(1).toInt(), 2);

    const QRect first = view.tokenRect(a, 0);
    QVERIFY(view.hoverAt(first.center()).contains(QStringLiteral("90.0 %")));
    QVERIFY(view.hoverAt(QPoint(view.width() - 30, view.height() - 5)).isEmpty());
    QCOMPARE(ChatTokenToolTip::percent(std::log(0.0004)), QStringLiteral("0.04 %"));
  }

  void editEmitsEditSubmitted() {
    ChatView view;
    view.resize(800, 600);
    view.addMessage(ChatRole::System, QStringLiteral("You are terse."));
    const int u = view.addMessage(ChatRole::User, QStringLiteral("Hello"));
    view.addMessage(ChatRole::Assistant, QStringLiteral("Hi."));
    showAndSettle(view);
    QSignalSpy spy(&view, &ChatView::editSubmitted);
    auto* edit = child<QToolButton>(view, u, "editButton");
    QVERIFY(edit && edit->isVisible());
    QVERIFY(!child<QToolButton>(view, u + 1, "editButton"));  // only user messages are edited
    QTest::mouseClick(edit, Qt::LeftButton);
    auto* editor = child<QPlainTextEdit>(view, u, "editor");
    QVERIFY(editor->isVisible());
    QCOMPARE(editor->toPlainText(), QStringLiteral("Hello"));
    QVERIFY(!body(view, u)->isVisible());
    editor->selectAll();
    QTest::keyClicks(editor, QStringLiteral("Hello again"));
    QTest::mouseClick(child<QPushButton>(view, u, "saveButton"), Qt::LeftButton);
    QCOMPARE(spy.count(), 1);
    QCOMPARE(spy.at(0).at(0).toInt(), u);
    QCOMPARE(spy.at(0).at(1).toString(), QStringLiteral("Hello again"));
    QVERIFY(!editor->isVisible());
    QVERIFY(body(view, u)->isVisible());

    // Cancel (Escape) leaves the message as it was and emits nothing.
    QTest::mouseClick(edit, Qt::LeftButton);
    QTest::keyClicks(editor, QStringLiteral(" more"));
    QTest::keyClick(editor, Qt::Key_Escape);
    QCOMPARE(spy.count(), 1);
    QCOMPARE(view.messageText(u), QStringLiteral("Hello again"));
  }

  void branchArrowsEmitBranchRequested() {
    ChatView view;
    view.resize(800, 600);
    const int u = view.addMessage(ChatRole::User, QStringLiteral("Question"));
    showAndSettle(view);
    auto* prev = child<QToolButton>(view, u, "branchPrev");
    auto* next = child<QToolButton>(view, u, "branchNext");
    QVERIFY(!prev->isVisible());
    view.setBranchInfo(u, 2, 3);
    QVERIFY(prev->isVisible() && next->isVisible());
    QCOMPARE(child<QLabel>(view, u, "branchLabel")->text(), QStringLiteral("2/3"));
    QSignalSpy spy(&view, &ChatView::branchRequested);
    QTest::mouseClick(next, Qt::LeftButton);
    QTest::mouseClick(prev, Qt::LeftButton);
    QCOMPARE(spy.count(), 2);
    QCOMPARE(spy.at(0), (QList<QVariant>{u, 1}));
    QCOMPARE(spy.at(1), (QList<QVariant>{u, -1}));
    view.setBranchInfo(u, 3, 3);
    QVERIFY(!next->isEnabled());
    view.setBranchInfo(u, 1, 1);
    QVERIFY(!prev->isVisible());
  }

  void copyPutsTextOnClipboard() {
    ChatView view;
    view.resize(800, 600);
    const int a =
        view.addMessage(ChatRole::Assistant, QStringLiteral("<think>hidden</think>\nThe **answer**."));
    showAndSettle(view);
    QSignalSpy spy(&view, &ChatView::copyRequested);
    QTest::mouseClick(child<QToolButton>(view, a, "copyButton"), Qt::LeftButton);
    QCOMPARE(QApplication::clipboard()->text(), QStringLiteral("The **answer**."));
    QCOMPARE(spy.count(), 1);
    QCOMPARE(spy.at(0).at(0).toInt(), a);
  }

  void regenerateOnlyOnTheLastCompleteAnswer() {
    ChatView view;
    view.resize(800, 600);
    const int a1 = view.addMessage(ChatRole::Assistant, QStringLiteral("First."));
    view.addMessage(ChatRole::User, QStringLiteral("More"));
    showAndSettle(view);
    auto regen = [&](int i) { return child<QToolButton>(view, i, "regenerateButton"); };
    QVERIFY(!regen(a1)->isVisible());
    const int a2 = view.beginAssistant();
    view.appendToken(QStringLiteral("Second"));
    QVERIFY(!regen(a2)->isVisible());  // not while streaming
    view.finishAssistant();
    view.addNotice(
        QStringLiteral("Context full: the 2 oldest turns were dropped (the system prompt is kept)."));
    QTest::qWait(10);                 // a widget added to a shown layout is shown from the event loop
    QVERIFY(regen(a2)->isVisible());  // a notice after the answer does not count
    QSignalSpy spy(&view, &ChatView::regenerateRequested);
    QTest::mouseClick(regen(a2), Qt::LeftButton);
    QCOMPARE(spy.count(), 1);
    QCOMPARE(spy.at(0).at(0).toInt(), a2);
  }

  void interruptedBadgeAndNotice() {
    ChatView view;
    view.resize(800, 600);
    const int a =
        view.addMessage(ChatRole::Assistant, QStringLiteral("Partial ans"), MessageFlag::Interrupted);
    const int b = view.addMessage(ChatRole::Assistant, QStringLiteral("Complete."));
    const int n = view.addNotice(QStringLiteral("Context window full: oldest turns dropped."));
    showAndSettle(view);
    QVERIFY(child<QLabel>(view, a, "interruptedBadge")->isVisible());
    QVERIFY(!child<QLabel>(view, b, "interruptedBadge")->isVisible());
    view.setInterrupted(b);
    QVERIFY(child<QLabel>(view, b, "interruptedBadge")->isVisible());
    auto* note = child<QLabel>(view, n, "noticeLabel");
    QVERIFY(note && note->isVisible());
    QCOMPARE(note->text(), QStringLiteral("Context window full: oldest turns dropped."));
    QCOMPARE(view.messageCount(), 3);
    view.clear();
    QCOMPARE(view.messageCount(), 0);
  }

  // Renders a realistic conversation to PNGs (light and dark palettes, reasoning folded and open) for a
  // person to look at. MOE_SCREENSHOT_DIR chooses the folder (default: a temporary one, printed).
  void screenshot() {
    QString dir = qEnvironmentVariable("MOE_SCREENSHOT_DIR");
    if (dir.isEmpty()) dir = QDir::temp().filePath(QStringLiteral("moe-screenshots"));
    QVERIFY(QDir().mkpath(dir));
    for (const bool dark : {false, true}) {
      ChatView view;
      if (dark) {
        QPalette p;
        p.setColor(QPalette::Window, QColor(0x2b, 0x2d, 0x31));
        p.setColor(QPalette::Base, QColor(0x1e, 0x1f, 0x22));
        p.setColor(QPalette::AlternateBase, QColor(0x2b, 0x2d, 0x31));
        p.setColor(QPalette::Text, QColor(0xe6, 0xe6, 0xe6));
        p.setColor(QPalette::WindowText, QColor(0xe6, 0xe6, 0xe6));
        p.setColor(QPalette::ButtonText, QColor(0xe6, 0xe6, 0xe6));
        p.setColor(QPalette::Button, QColor(0x3a, 0x3c, 0x40));
        p.setColor(QPalette::Highlight, QColor(0x3d, 0x8b, 0xfd));
        p.setColor(QPalette::Link, QColor(0x6c, 0xb6, 0xff));
        view.setPalette(p);
      }
      view.resize(1000, 700);
      fillConversation(view);
      showAndSettle(view);
      view.verticalScrollBar()->setValue(0);
      QTest::qWait(20);
      const QString top = QDir(dir).filePath(dark ? QStringLiteral("chat_view_dark_top.png")
                                                  : QStringLiteral("chat_view_top.png"));
      QVERIFY(view.grab().save(top));
      view.setReasoningExpanded(2, true);
      QTest::qWait(20);
      view.verticalScrollBar()->setValue(view.verticalScrollBar()->maximum());
      QTest::qWait(20);
      const QString bottom = QDir(dir).filePath(dark ? QStringLiteral("chat_view_dark_bottom.png")
                                                     : QStringLiteral("chat_view_bottom.png"));
      QVERIFY(view.grab().save(bottom));
      qInfo("screenshots: %s %s", qPrintable(top), qPrintable(bottom));
    }

    // Mid-stream: reasoning still open, an unterminated code fence.
    ChatView view;
    view.resize(1000, 700);
    view.addMessage(ChatRole::User, QStringLiteral("Write a C function that sums an array."));
    view.beginAssistant();
    const QString partial = QStringLiteral(
        "<think>\nA simple loop; use size_t for the index.\n</think>\n\nHere is a straightforward "
        "version:\n\n"
        "```c\n#include <stddef.h>\n\nlong sum(const int* xs, size_t n) {\n    long total = 0;\n    for "
        "(size_t i = 0;");
    for (const QString& piece : partial.split(QLatin1Char(' ')))
      view.appendToken(piece + QLatin1Char(' '));
    showAndSettle(view);
    const QString streaming = QDir(dir).filePath(QStringLiteral("chat_view_streaming.png"));
    QVERIFY(view.grab().save(streaming));
    qInfo("screenshot: %s", qPrintable(streaming));

    // The token tool tip as Qt shows it (a QLabel with the tool-tip palette).
    ChatToken token{QStringLiteral(" Paris"),
                    std::log(0.873),
                    {{QStringLiteral(" Paris"), std::log(0.873)},
                     {QStringLiteral(" Lyon"), std::log(0.05)},
                     {QStringLiteral("\n"), std::log(0.0004)}}};
    QLabel tip(ChatTokenToolTip::html(token));
    tip.setPalette(QToolTip::palette());
    tip.setAutoFillBackground(true);
    tip.setMargin(6);
    tip.setFrameShape(QFrame::Box);
    tip.show();
    QVERIFY(QTest::qWaitForWindowExposed(&tip));
    const QString tipPath = QDir(dir).filePath(QStringLiteral("token_tooltip.png"));
    QVERIFY(tip.grab().save(tipPath));
    qInfo("screenshot: %s", qPrintable(tipPath));
  }

 private:
  static void fillConversation(ChatView& view) {
    view.addMessage(ChatRole::System, QStringLiteral("You are a helpful assistant who answers concisely."));
    view.addMessage(
        ChatRole::User,
        QStringLiteral("How do I reverse a linked list in Python? Show code and explain the complexity."));
    const int a = view.addMessage(
        ChatRole::Assistant,
        QStringLiteral(
            "<think>\nThe user wants an iterative reversal. I should show the classic three-pointer loop, "
            "then "
            "mention the recursive variant and its stack cost.\n</think>\n\n"
            "Reverse it **in place** by walking the list once and flipping each `next` pointer:\n\n"
            "```python\nclass Node:\n    def __init__(self, value, next=None):\n        self.value = value\n"
            "        self.next = next\n\n\ndef reverse(head):\n    prev = None\n    while head is not None:\n"
            "        head.next, prev, head = prev, head, head.next\n    return prev\n```\n\n"
            "### Why it works\n\n"
            "1. `prev` holds the part already reversed.\n"
            "2. Each step moves one node from the front of `head` to the front of `prev`.\n"
            "3. When `head` runs out, `prev` is the new head.\n\n"
            "| approach | time | extra space |\n|---|---|---|\n| iterative | O(n) | O(1) |\n| recursive | "
            "O(n) | O(n) |\n\n"
            "> Recursion is elegant but Python's default recursion limit (1000) makes it fail on long "
            "lists.\n\n"
            "See the [Python tutorial](https://docs.python.org/3/tutorial/) for more on classes."));
    view.setBranchInfo(a, 2, 3);
    view.finishAssistant();
    view.setStats(a, QStringLiteral("214 tokens \u00B7 48.3 tok/s \u00B7 0.21 s to first token"));
    view.addMessage(ChatRole::User, QStringLiteral("Thanks! And a one-liner?"));
    const int b =
        view.addMessage(ChatRole::Assistant,
                        QStringLiteral("For a Python `list` (not a linked list) use slicing: `xs[::-1]`, "
                                       "or `xs.reverse()` to do it in place. A longer explanation of why "
                                       "slicing copies the list and why that matters for very large "
                                       "inputs would go here, wrapping over a few lines so the layout of "
                                       "long paragraphs can be"),
                        MessageFlag::Interrupted);
    view.setStats(b, QStringLiteral("61 tokens \u00B7 47.9 tok/s \u00B7 stopped"));
    view.addNotice(
        QStringLiteral("Context window full: the 2 oldest turns were dropped (the system prompt is kept)."));
  }
};

QTEST_MAIN(TestChatView)
#include "test_chat_view.moc"
