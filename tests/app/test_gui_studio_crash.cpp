// kill -9 during generation, at the application level: the real studio (studio_crash_child, built from
// app/studio) streams an answer from the built-in demo model into a temporary database and is killed with
// SIGKILL in the middle. Reopening the database finds the partial answer, holding at least everything the
// ChatView showed 250 ms before the kill (plus one UI frame and the write itself), marked 'interrupted' in
// the store; opening the session in the real window by clicking it in the sidebar shows the answer with its
// "interrupted" badge.
#include <QDateTime>
#include <QLabel>
#include <QListWidget>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <csignal>
#include <vector>

#include "store/session_store.h"
#include "studio/chat_controller.h"
#include "studio/main_window.h"
#include "widgets/chat_message_item.h"
#include "widgets/chat_view.h"

using namespace moe;

namespace {

// The write interval of the ChatController is 250 ms; a write happens when the first batch after it
// arrives (one UI frame, 16 ms) and takes a few ms: text older than this is on disk.
constexpr qint64 kMaxLossMs = 250 + 16 + 34;

struct Shown {
  qint64 atMs = 0;
  QByteArray text;  // the whole answer shown by then
};

}  // namespace

class GuiStudioCrashTest : public QObject {
  Q_OBJECT

 private slots:
  void kill9_mid_generation_keeps_the_partial_answer() {
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString db = tmp.filePath("studio.db");
    const QString model = studio::MainWindow::demoModelPath();
    QVERIFY2(!model.isEmpty(), "the built-in demo model was not found");

    QProcess child;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert("QT_QPA_PLATFORM", "offscreen");
    child.setProcessEnvironment(env);
    child.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    child.start(MOE_STUDIO_CRASH_CHILD_PATH, {db, model});
    QVERIFY2(child.waitForStarted(10000), qPrintable(child.errorString()));

    qint64 session = 0;
    std::vector<Shown> shown;
    QByteArray text;
    bool done = false;
    auto readLines = [&] {
      while (child.canReadLine()) {
        const QByteArray line = child.readLine().trimmed();
        const QList<QByteArray> f = line.split(' ');
        if (f[0] == "session" && f.size() == 2) session = f[1].toLongLong();
        if (f[0] == "text" && f.size() == 3) {
          text += QByteArray::fromBase64(f[2]);
          shown.push_back({f[1].toLongLong(), text});
        }
        if (f[0] == "done") done = true;
      }
    };
    // Let it stream for 1.5 s (or, on a machine fast enough to finish the answer sooner, 0.6 s and a third of
    // its 1,900 tokens), then kill it.
    QElapsedTimer wait;
    wait.start();
    auto streamedMs = [&] { return shown.empty() ? 0 : shown.back().atMs - shown.front().atMs; };
    while (wait.elapsed() < 120000 && !done && streamedMs() < 1500 &&
           !(streamedMs() >= 600 && text.size() >= 2500)) {
      child.waitForReadyRead(50);
      readLines();
    }
    QVERIFY2(!done, "the answer finished before it could be killed");
    QVERIFY2(!shown.empty(), "no text was streamed");
    const qint64 killedAt = QDateTime::currentMSecsSinceEpoch();
    ::kill(pid_t(child.processId()), SIGKILL);
    QVERIFY(child.waitForFinished(10000));
    QCOMPARE(child.exitStatus(), QProcess::CrashExit);
    readLines();
    QVERIFY(!done);
    QVERIFY(session > 0);

    // What the ChatView showed kMaxLossMs before the kill must be in the database.
    QByteArray mustHave;
    for (const Shown& s : shown)
      if (s.atMs <= killedAt - kMaxLossMs) mustHave = s.text;
    QVERIFY2(!mustHave.isEmpty(), "nothing was shown long enough before the kill");

    store::SessionStore store(db);
    const auto opened = store.open();
    QVERIFY2(opened.ok(), qPrintable(opened.message));
    QCOMPARE(opened.interruptedMessages, 1);
    const auto path = store.activePath(session);
    QCOMPARE(int(path.size()), 2);
    QCOMPARE(path[1].role, QString("assistant"));
    QVERIFY(path[1].status == store::MessageStatus::Interrupted);
    const QByteArray stored = path[1].content.toUtf8();
    // The stored text is what was shown at one moment: the whole text shown until then, nothing else.
    QVERIFY2(text.startsWith(stored), "the stored answer is not what the window showed");
    QVERIFY2(stored.startsWith(mustHave),
             qPrintable(QString("stored %1 bytes, but %2 were shown %3 ms before the kill")
                            .arg(stored.size())
                            .arg(mustHave.size())
                            .arg(kMaxLossMs)));
    // How old the stored text was at the kill: when the window first showed all of it.
    qint64 storedAt = shown.front().atMs;
    for (const Shown& s : shown)
      if (s.text.size() <= stored.size()) storedAt = s.atMs;
    qInfo(
        "killed after %lld ms of streaming: %lld bytes shown, %lld stored (shown %lld ms before the kill); "
        "%lld bytes required",
        (long long)(killedAt - shown.front().atMs), (long long)text.size(), (long long)stored.size(),
        (long long)(killedAt - storedAt), (long long)mustHave.size());
    // Its routing trace was written with it: the prompt's positions and the generated tokens so far.
    const auto trace = store.routingTrace(path[1].id);
    int generated = 0;
    for (const auto& r : trace)
      generated += !r.prompt;
    QVERIFY(generated > 0);

    // The real window: clicking the chat in the sidebar shows the partial answer, marked interrupted.
    studio::MainWindow window(store);
    window.resize(1200, 800);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QListWidget* list = window.sessionList();
    QCOMPARE(list->count(), 1);
    QListWidgetItem* item = list->item(0);
    QCOMPARE(item->data(Qt::UserRole).toLongLong(), session);
    QTest::mouseClick(list->viewport(), Qt::LeftButton, {}, list->visualItemRect(item).center());
    QCOMPARE(window.controller()->sessionId(), session);
    QCOMPARE(window.chatView()->messageCount(), 2);
    QCOMPARE(window.chatView()->messageText(1), path[1].content);
    auto* badge = window.chatView()->messageItem(1)->findChild<QLabel*>("interruptedBadge");
    QVERIFY(badge);
    QVERIFY(badge->isVisibleTo(window.chatView()->messageItem(1)));
    QCOMPARE(badge->text(), QString("interrupted"));
    auto* userBadge = window.chatView()->messageItem(0)->findChild<QLabel*>("interruptedBadge");
    QVERIFY(!userBadge || !userBadge->isVisibleTo(window.chatView()->messageItem(0)));
  }
};

QTEST_MAIN(GuiStudioCrashTest)
#include "test_gui_studio_crash.moc"
