// Helper of test_gui_studio_crash: the real studio (MainWindow, ChatController, EngineWorker from
// app/studio) on a given database and model, sending one message whose answer runs long (past EOS), until
// the test kills it with SIGKILL.
//
//   studio_crash_child DB MODEL
//
// stdout, one line each, flushed at once:
//   session <id>                 the chat the message went to
//   text <epoch_ms> <base64>     the answer's text grew by these UTF-8 bytes; shown in the ChatView by then
//   done                         the answer finished (the test wanted to kill it before)
#include <QApplication>
#include <QDateTime>
#include <QSignalSpy>
#include <QTimer>
#include <cstdio>

#include "store/session_store.h"
#include "studio/chat_controller.h"
#include "studio/main_window.h"
#include "widgets/chat_view.h"

using namespace moe;

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  if (argc != 3) {
    std::fprintf(stderr, "usage: studio_crash_child DB MODEL\n");
    return 2;
  }
  store::SessionStore store(QString::fromLocal8Bit(argv[1]));
  if (!store.open().ok()) return 1;
  studio::MainWindow window(store);
  window.show();
  QSignalSpy loaded(&window, &studio::MainWindow::modelLoaded);
  window.loadModel(QString::fromLocal8Bit(argv[2]), 2048);
  if (!loaded.wait(60000)) return 1;

  widgets::SamplingSettings s;
  s.maxTokens = 1900;
  s.randomSeed = false;
  s.seed = 11;
  studio::ChatController* controller = window.controller();
  controller->setSettings(s);
  controller->setIgnoreEos(true);
  controller->send(QStringLiteral("Tell me about the sea and the ships."));
  std::printf("session %lld\n", (long long)controller->sessionId());
  std::fflush(stdout);

  // Report what the ChatView shows as it grows (polled often: the times are when the text was on screen).
  QByteArray shown;
  QTimer poll;
  poll.setTimerType(Qt::PreciseTimer);
  QObject::connect(&poll, &QTimer::timeout, [&] {
    const QByteArray now = window.chatView()->messageText(1).toUtf8();
    if (now.size() > shown.size() && now.startsWith(shown)) {
      std::printf("text %lld %s\n", (long long)QDateTime::currentMSecsSinceEpoch(),
                  now.mid(shown.size()).toBase64().constData());
      std::fflush(stdout);
      shown = now;
    }
    if (!controller->isGenerating()) {
      std::printf("done\n");
      std::fflush(stdout);
      app.quit();
    }
  });
  poll.start(5);
  return app.exec();
}
