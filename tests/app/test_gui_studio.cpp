// The studio as a person uses it: the real MainWindow opens the built-in demo model, a message is typed and
// sent, the answer streams in; then the database rows, the chat view and the routing heatmap are checked
// (heatmap total for the answer's generated tokens = generated tokens x MoE layers x top-k), the session is
// reopened from the store and its heatmap replayed from the stored trace. Screenshots of the main window
// while chatting and of the routing dock are written to $MOE_SCREENSHOT_DIR (default /tmp/moe-screenshots).
#include <QComboBox>
#include <QDir>
#include <QLabel>
#include <QPlainTextEdit>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QTemporaryDir>
#include <QToolTip>
#include <QtTest>
#include <numeric>

#include "moe/device.h"
#include "moe/model_spec.h"
#include "store/session_store.h"
#include "studio/chat_controller.h"
#include "studio/main_window.h"
#include "studio/model_open_dialog.h"
#include "widgets/chat_input.h"
#include "widgets/chat_view.h"
#include "widgets/model_panel.h"
#include "widgets/routing_data.h"
#include "widgets/routing_panel.h"
#include "widgets/routing_stats.h"

using namespace moe;

namespace {

QString screenshot_dir() {
  QString dir = qEnvironmentVariable("MOE_SCREENSHOT_DIR", "/tmp/moe-screenshots");
  QDir().mkpath(dir);
  return dir;
}

int64_t total(widgets::RoutingData& data, const widgets::RoutingScope& scope) {
  widgets::RoutingStats stats(data, scope);
  const auto& c = stats.counts();
  return std::accumulate(c.begin(), c.end(), int64_t(0));
}

}  // namespace

class GuiStudioTest : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;

 private slots:
  void chat_end_to_end() {
    const QString model = studio::MainWindow::demoModelPath();
    QVERIFY2(!model.isEmpty(), "the built-in demo model was not found");
    store::SessionStore store(tmp_.filePath("studio.db"));
    QVERIFY(store.open().ok());
    studio::MainWindow window(store);
    window.resize(1440, 960);
    window.show();
    QSignalSpy loaded(&window, &studio::MainWindow::modelLoaded);
    window.loadModel(model, 1024);
    QVERIFY(loaded.wait(60000));

    // Type the question into the real input and press Enter.
    auto* editor = window.chatInput()->findChild<QPlainTextEdit*>();
    QVERIFY(editor);
    editor->setFocus();
    QTest::keyClicks(editor, "What does water mean?");
    QSignalSpy generating(window.controller(), &studio::ChatController::generatingChanged);
    QSignalSpy stats(window.controller(), &studio::ChatController::statsChanged);
    QTest::keyClick(editor, Qt::Key_Return);
    QVERIFY(window.controller()->isGenerating());
    QVERIFY(stats.wait(120000));
    const auto summary = stats.takeFirst().at(0).value<studio::GenerationSummary>();
    QVERIFY(summary.generated_tokens > 0);
    QCoreApplication::processEvents();
    window.chatView()->flush();
    QTest::qWait(100);
    window.grab().save(screenshot_dir() + "/main-window-chat.png");
    window.routingPanel()->grab().save(screenshot_dir() + "/routing-dock.png");
    qInfo("screenshots in %s", qPrintable(screenshot_dir()));

    // Hovering a generated token of the finished answer (Qt's tool-tip event where the mouse rests) shows its
    // probability, its logprob and the top alternatives.
    {
      auto* view = window.chatView();
      int token = -1;
      QPoint at;
      for (int t = int(summary.generated_tokens) - 1; t >= 0 && token < 0; --t) {
        const QRect r = view->tokenRect(1, t);
        if (!r.isEmpty() && r.width() > 4 && view->viewport()->geometry().contains(r.center())) {
          token = t;
          at = r.center();
        }
      }
      QVERIFY2(token >= 0, "no generated token is on screen");
      QWidget* target = view->childAt(at);
      QVERIFY(target);
      const QPoint local = target->mapFrom(view, at);
      QSignalSpy hovered(view, &widgets::ChatView::tokenHovered);
      QTest::mouseMove(target, local);
      QHelpEvent help(QEvent::ToolTip, local, target->mapToGlobal(local));
      QApplication::sendEvent(target, &help);
      QCOMPARE(hovered.count(), 1);
      QCOMPARE(hovered.at(0).at(0).toInt(), 1);
      QCOMPARE(hovered.at(0).at(1).toInt(), token);
      QTRY_VERIFY(QToolTip::isVisible());
      const QString tip = QToolTip::text();
      static const QRegularExpression logprob(R"(\(logprob (-?\d+\.\d{3})\))");
      const auto m = logprob.match(tip);
      QVERIFY2(m.hasMatch(), qPrintable(tip));
      QVERIFY(m.captured(1).toDouble() <= 0);
      QVERIFY2(tip.count("<tr>") >= 2, qPrintable(tip));  // the top alternatives (at least 5 are asked for)
      QVERIFY2(tip.count(" %") >= 3, qPrintable(tip));    // the token's probability and the alternatives'
      window.grab().save(screenshot_dir() + "/main-window-token-hover.png");
      QToolTip::hideText();
    }

    // The database holds the user message and the finished answer, with its routing trace.
    const qint64 session = window.controller()->sessionId();
    QVERIFY(session > 0);
    auto path = store.activePath(session);
    QCOMPARE(int(path.size()), 2);
    QCOMPARE(path[0].role, QString("user"));
    QCOMPARE(path[0].content, QString("What does water mean?"));
    QCOMPARE(path[1].role, QString("assistant"));
    QVERIFY(path[1].status == store::MessageStatus::Complete);
    QCOMPARE(path[1].content, summary.text);
    QVERIFY(!path[1].content.trimmed().isEmpty());
    QCOMPARE(path[1].tokenCount.value_or(-1), summary.generated_tokens);
    QCOMPARE(window.chatView()->messageText(1), summary.text);

    // Heatmap total over the answer's generated tokens = tokens x MoE layers x top-k.
    auto& data = *window.routingData();
    const int64_t expected = summary.generated_tokens * data.nLayers() * data.topK();
    QCOMPARE(total(data, widgets::RoutingScope::thisAnswer(widgets::RoutingScope::kLatestAnswer,
                                                           widgets::TokenFilter::Generated)),
             expected);
    QVERIFY(total(data, widgets::RoutingScope::thisAnswer(widgets::RoutingScope::kLatestAnswer,
                                                          widgets::TokenFilter::Prompt)) > 0);
    auto trace = store.routingTrace(path[1].id);
    int64_t generated_in_trace = 0;
    for (const auto& r : trace)
      generated_in_trace += !r.prompt;
    QCOMPARE(generated_in_trace, summary.generated_tokens);

    // Reopening the session replays the heatmap from the stored trace.
    window.controller()->openSession(0);
    QCOMPARE(data.size(), 0);
    window.controller()->openSession(session);
    QCOMPARE(total(data, widgets::RoutingScope::session(widgets::TokenFilter::Generated)), expected);
    QCOMPARE(window.chatView()->messageCount(), 2);
  }

  // The device: "auto" is CUDA when the probe finds a GPU and the CPU otherwise, and the window says which
  // and why (the model panel, the status bar, VRAM there on CUDA); "cuda" without a GPU fails with the
  // probe's reason; the open dialog offers the choice with the memory it takes.
  void device_choice() {
    const GpuProbe probe = probe_gpus();
    const QString model = studio::MainWindow::demoModelPath();
    store::SessionStore store(tmp_.filePath("device.db"));
    QVERIFY(store.open().ok());
    studio::MainWindow window(store);
    window.show();
    QCOMPARE(window.device(), QString("auto"));
    QSignalSpy loaded(&window, &studio::MainWindow::modelLoaded);
    QSignalSpy failed(&window, &studio::MainWindow::modelLoadFailed);
    window.loadModel(model, 512);
    QVERIFY(loaded.wait(60000));
    const auto& f = window.loadedFacts();
    QCOMPARE(f.requested_device, QString("auto"));
    const QString device = window.modelPanel()->fieldText("Device");
    const QString status = window.deviceLabel()->text();
    qInfo("auto: backend %s; model panel Device: %s; status bar: %s | %s", qPrintable(f.backend),
          qPrintable(device), qPrintable(status), qPrintable(window.memoryLabel()->text()));
    QCOMPARE(window.modelPanel()->fieldText("Backend"), f.backend.toUpper());
    if (probe.gpus.empty()) {
      const QString why = QString::fromStdString(probe.why_none);
      QVERIFY(!why.isEmpty());
      QCOMPARE(f.backend, QString("cpu"));
      QVERIFY2(device.startsWith("CPU (no GPU: ") && device.contains(why), qPrintable(device));
      QVERIFY2(status.startsWith("CPU backend") && status.contains(why), qPrintable(status));
      QVERIFY(!window.memoryLabel()->text().contains("VRAM"));
      QVERIFY(window.modelPanel()->fieldText("GPU memory").isEmpty());

      // CUDA asked for on a machine without a GPU: refused with the reason.
      window.setDevice("cuda");
      window.loadModel(model, 512);
      QVERIFY(failed.wait(60000));
      const QString message = failed.takeFirst().at(0).toString();
      QVERIFY2(message.contains("no GPU") && message.contains(why), qPrintable(message));
      QCOMPARE(window.deviceLabel()->text(), QString("no model"));
    } else {
      QCOMPARE(f.backend, QString("cuda"));
      QVERIFY(window.memoryLabel()->text().contains("VRAM"));
      QVERIFY(!window.modelPanel()->fieldText("GPU memory").isEmpty());
    }
    // The CPU when asked, whatever the machine has.
    window.setDevice("cpu");
    window.loadModel(model, 512);
    QVERIFY(loaded.wait(60000));
    QCOMPARE(window.loadedFacts().backend, QString("cpu"));
    QVERIFY(window.deviceLabel()->text().startsWith("CPU backend"));

    // The open dialog: the device choice and the context length, with what they cost.
    const ModelSpec spec = load_model_spec(model.toStdString());
    studio::ModelOpenDialog dialog(model, spec, "auto");
    QCOMPARE(dialog.device(), QString("auto"));
    QCOMPARE(dialog.contextLength(), int64_t(std::min<int64_t>(spec.max_position_embeddings, 4096)));
    dialog.contextBox()->setValue(1024);
    QCOMPARE(dialog.contextLength(), qint64(1024));
    if (probe.gpus.empty()) {
      QVERIFY2(dialog.gpuLabel()->text().contains(QString::fromStdString(probe.why_none)),
               qPrintable(dialog.gpuLabel()->text()));
      // 1,024 positions x layers x KV width x 4 bytes, in RAM.
      const QString kv = QLocale().formattedDataSize(studio::ModelOpenDialog::kvBytesPerPosition(spec) * 1024,
                                                     1, QLocale::DataSizeIecFormat);
      QVERIFY2(dialog.memoryLabel()->text().startsWith("KV cache in RAM: " + kv),
               qPrintable(dialog.memoryLabel()->text()));
      // CUDA is listed but cannot be picked.
      auto* items = qobject_cast<QStandardItemModel*>(dialog.deviceBox()->model());
      QVERIFY(items && !items->item(dialog.deviceBox()->findData("cuda"))->isEnabled());
    }
    dialog.deviceBox()->setCurrentIndex(dialog.deviceBox()->findData("cpu"));
    QCOMPARE(dialog.device(), QString("cpu"));
    QVERIFY(dialog.memoryLabel()->text().startsWith("KV cache in RAM"));
  }
};

QTEST_MAIN(GuiStudioTest)
#include "test_gui_studio.moc"
