// Helper of test_store's crash test: writes one streaming assistant message as the studio does, until killed.
//
//   store_writer DB FLUSH_MS [TOKEN_MS]
//
// Creates a session with a user message and a 'streaming' assistant message whose prompt routing it stores,
// then "generates" a token every TOKEN_MS (default 20; 0: as fast as it can) and writes the text so far
// together with the new tokens' routing records in one transaction whenever FLUSH_MS have passed since the
// last write or 16 tokens are pending (FLUSH_MS 0: after every token). stdout, one line each, flushed at
// once:
//   message <id>        the assistant message
//   ready               the prompt is stored; tokens follow
//   token <n> <ms>      n tokens generated (reported before they are written), ms since ready
//   flushed <n>         the text of n tokens and their routing are committed
#include <QCoreApplication>
#include <QElapsedTimer>
#include <QThread>
#include <cstdio>

#include "store/session_store.h"
#include "store_writer_protocol.h"

using namespace moe::store;

int main(int argc, char** argv) {
  QCoreApplication app(argc, argv);
  if (argc != 3 && argc != 4) {
    std::fprintf(stderr, "usage: store_writer DB FLUSH_MS [TOKEN_MS]\n");
    return 2;
  }
  const int flushMs = std::atoi(argv[2]);
  const int tokenMs = argc == 4 ? std::atoi(argv[3]) : store_writer::kTokenMs;
  SessionStore store(QString::fromLocal8Bit(argv[1]));
  const OpenResult opened = store.open();
  if (!opened.ok()) {
    std::fprintf(stderr, "%s\n", qPrintable(opened.message));
    return 1;
  }
  try {
    const qint64 session = store.createSession(QStringLiteral("crash test"));
    const qint64 user = store.appendMessage(session, SessionStore::kNoParent, QStringLiteral("user"),
                                            QStringLiteral("count for me"));
    const qint64 id =
        store.appendMessage(session, user, QStringLiteral("assistant"), {}, MessageStatus::Streaming);
    std::vector<RoutingRecordRow> records;
    for (int p = 0; p < store_writer::kPromptPositions; ++p)
      records.push_back(store_writer::record(p));
    store.appendRoutingChunk(id, records);
    std::printf("message %lld\nready\n", static_cast<long long>(id));
    std::fflush(stdout);

    QElapsedTimer sinceReady, sinceFlush;
    sinceReady.start();
    sinceFlush.start();
    int generated = 0, flushed = 0;
    QString text;
    while (generated < 100000) {
      if (tokenMs > 0) QThread::msleep(tokenMs);
      text += store_writer::token(generated);
      ++generated;
      std::printf("token %d %lld\n", generated, static_cast<long long>(sinceReady.elapsed()));
      std::fflush(stdout);
      if (generated - flushed < store_writer::kMaxPending && sinceFlush.elapsed() < flushMs) continue;
      records.clear();
      for (int i = flushed; i < generated; ++i)
        records.push_back(store_writer::record(store_writer::kPromptPositions + i));
      sinceFlush.restart();  // the interval runs from write to write, however long a write takes
      store.runInTransaction([&] {
        store.updateMessageText(id, text);
        store.appendRoutingChunk(id, records);
      });
      flushed = generated;
      std::printf("flushed %d\n", flushed);
      std::fflush(stdout);
    }
    store.finishMessage(id, {});
  } catch (const StoreError& e) {
    std::fprintf(stderr, "%s\n", qPrintable(e.message()));
    return 1;
  }
  return 0;
}
