// Screenshots of the studio taken from a real X server (Xvfb through under_x.sh, never the offscreen
// platform): the main window while an answer streams, after it, with a token's hover tool tip, and the
// routing dock alone, all at 1440 x 960 on the built-in demo model. The PNGs go to
// $MOE_SCREENSHOT_DIR/xvfb (default /tmp/moe-screenshots/xvfb), which the test prints; a person looks at
// them, and of the Open Model Folder dialog. The test checks that they were taken from the X server and are
// not blank.
#include <QCursor>
#include <QDir>
#include <QDockWidget>
#include <QGuiApplication>
#include <QHelpEvent>
#include <QPlainTextEdit>
#include <QScreen>
#include <QSet>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QToolTip>
#include <QtTest>

#include "moe/model_spec.h"
#include "store/session_store.h"
#include "studio/chat_controller.h"
#include "studio/main_window.h"
#include "studio/model_open_dialog.h"
#include "widgets/chat_input.h"
#include "widgets/chat_view.h"
#include "widgets/routing_data.h"
#include "widgets/routing_panel.h"
#include "widgets/sampling_panel.h"

using namespace moe;

namespace {

QString screenshot_dir() {
  const QString dir = qEnvironmentVariable("MOE_SCREENSHOT_DIR", "/tmp/moe-screenshots") + "/xvfb";
  QDir().mkpath(dir);
  return dir;
}

// Distinct colours in a sample of the image's pixels: a blank or black grab has one or two.
int colours(const QImage& image) {
  QSet<QRgb> seen;
  for (int y = 0; y < image.height(); y += 7)
    for (int x = 0; x < image.width(); x += 7)
      seen.insert(image.pixel(x, y));
  return int(seen.size());
}

}  // namespace

class GuiScreenshotsTest : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  QStringList written_;

  // What the X server shows of `rect` (window coordinates) of the window: tool tips included when asked.
  bool save(studio::MainWindow& window, const QString& name, QRect rect = {}, bool withPopups = false) {
    QCoreApplication::processEvents();
    QScreen* screen = window.screen();
    if (rect.isNull()) rect = window.rect();
    QPixmap shot;
    if (withPopups) {
      const QPoint origin = window.mapToGlobal(rect.topLeft());
      shot = screen->grabWindow(0, origin.x(), origin.y(), rect.width(), rect.height());
    } else {
      shot = screen->grabWindow(window.winId(), rect.x(), rect.y(), rect.width(), rect.height());
    }
    const QString path = screenshot_dir() + "/" + name;
    const QImage image = shot.toImage();
    const int n = colours(image);
    qInfo("%s: %dx%d, %d colours", qPrintable(path), image.width(), image.height(), n);
    if (image.size() != rect.size() || n < 50) return false;
    written_ << path;
    return image.save(path);
  }

 private slots:
  void studio_under_xvfb() {
    QVERIFY2(QGuiApplication::platformName() == "xcb",
             qPrintable("not on an X server (platform " + QGuiApplication::platformName() +
                        "): run through tests/app/screenshots/under_x.sh"));
    const QString model = studio::MainWindow::demoModelPath();
    QVERIFY2(!model.isEmpty(), "the built-in demo model was not found");
    store::SessionStore store(tmp_.filePath("studio.db"));
    QVERIFY(store.open().ok());
    studio::MainWindow window(store);
    window.resize(1440, 960);
    window.move(0, 0);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QSignalSpy loaded(&window, &studio::MainWindow::modelLoaded);
    window.loadModel(model, 2048);
    QVERIFY(loaded.wait(60000));

    auto* sampling = window.findChild<widgets::SamplingPanel*>();
    widgets::SamplingSettings s = sampling->settings();
    s.maxTokens = 700;
    s.randomSeed = false;
    s.seed = 3;
    s.systemPrompt = "You are a helpful assistant.";
    sampling->setSettings(s);
    window.controller()->setIgnoreEos(true);

    auto* editor = window.chatInput()->findChild<QPlainTextEdit*>();
    QVERIFY(editor);
    editor->setFocus();
    QTest::keyClicks(editor, "What does the word harbour mean?");
    QSignalSpy stats(window.controller(), &studio::ChatController::statsChanged);
    QTest::keyClick(editor, Qt::Key_Return);
    QVERIFY(window.controller()->isGenerating());
    // While it streams: a good part of the answer in, the heatmap live.
    QTRY_VERIFY_WITH_TIMEOUT(window.routingData()->size() > 250 || !stats.isEmpty(), 60000);
    const bool streaming = stats.isEmpty();
    QVERIFY(save(window, "main-window-streaming.png"));
    QVERIFY(stats.wait(120000) || !stats.isEmpty());
    QVERIFY2(streaming, "the answer finished before the streaming screenshot");
    QTest::qWait(300);  // the last throttled refreshes
    window.routingPanel()->refreshNow();

    QVERIFY(save(window, "main-window-chat.png"));
    QDockWidget* dock = window.routingDock();
    QVERIFY(save(window, "routing-dock.png", QRect(dock->mapTo(&window, QPoint(0, 0)), dock->size())));

    // A token selected in the strip fills the per-token table.
    window.routingPanel()->selectToken(window.routingData()->size() - 40);
    QTest::qWait(200);
    QVERIFY(save(window, "routing-dock-token.png", QRect(dock->mapTo(&window, QPoint(0, 0)), dock->size())));

    // A token's hover tool tip, with the chat around it.
    auto* view = window.chatView();
    QVector<QPoint> visible;  // centres of the tokens on screen; the one in the middle is hovered
    for (int t = 0; t < 700; ++t) {
      const QRect r = view->tokenRect(1, t);
      if (!r.isEmpty() && r.width() > 8 && view->viewport()->geometry().contains(r.center()))
        visible << r.center();
    }
    const QPoint at = visible.isEmpty() ? QPoint() : visible[visible.size() / 2];
    QVERIFY2(!at.isNull(), "no token on screen to hover");
    QWidget* target = view->childAt(at);
    QVERIFY(target);
    const QPoint local = target->mapFrom(view, at);
    QCursor::setPos(target->mapToGlobal(local));  // the X pointer too: a tool tip hides when it is elsewhere
    QTest::mouseMove(target, local);
    QHelpEvent help(QEvent::ToolTip, local, target->mapToGlobal(local));
    QApplication::sendEvent(target, &help);
    QTRY_VERIFY(QToolTip::isVisible());
    QTest::qWait(100);  // the tool tip is mapped and painted
    QVERIFY(QToolTip::isVisible());
    const QPoint viewAt = view->mapTo(&window, QPoint(0, 0));
    QVERIFY(save(window, "chat-token-hover.png", QRect(viewAt, view->size()), true));
    QToolTip::hideText();

    // File > Open Model Folder's questions: context length and device, with the memory they take.
    studio::ModelOpenDialog dialog(model, load_model_spec(model.toStdString()), window.device(), &window);
    dialog.contextBox()->setValue(2048);
    dialog.show();
    QVERIFY(QTest::qWaitForWindowExposed(&dialog));
    QTest::qWait(100);
    {
      const QImage image = dialog.screen()->grabWindow(dialog.winId()).toImage();
      QVERIFY(image.size() == dialog.size() && colours(image) >= 20);
      QVERIFY(image.save(screenshot_dir() + "/open-model-dialog.png"));
      written_ << screenshot_dir() + "/open-model-dialog.png";
    }
    dialog.reject();

    qInfo("screenshots (from the X server %s) in %s", qgetenv("DISPLAY").constData(),
          qPrintable(screenshot_dir()));
    QCOMPARE(written_.size(), 6);
  }
};

QTEST_MAIN(GuiScreenshotsTest)
#include "test_gui_screenshots.moc"
