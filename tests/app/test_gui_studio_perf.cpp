// Threading and live-view cost, measured on the real MainWindow with the built-in demo model:
//  - the GUI thread never stalls for more than 50 ms while the model loads and while it generates (a 5 ms
//    precise timer on the GUI thread records the longest gap between its ticks);
//  - the expert heatmap repaints at >= 10 Hz during a generation of a few seconds (paint events of the
//    heatmap widget counted, and replots);
//  - the live routing views slow generation by at most 5 %: decode tokens/s with the routing dock shown and
//    with it hidden (its views then skip their refreshes), in blocks of A B B A over answers of the same
//    prompt and seed; the median over steady blocks (whose two runs of each kind agree within 3 %) of
//    live / hidden is compared. When the machine is too busy for three steady blocks out of twelve, all
//    blocks are held to 15 % instead, and the test says so.
// The numbers are printed (qInfo) so they can be quoted. MOE_PERF_SLOWDOWN_LIMIT overrides the 5 % bound
// (a percentage) for machines too busy to measure it.
#include <QDockWidget>
#include <QElapsedTimer>
#include <QPlainTextEdit>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTimer>
#include <QtTest>
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "store/session_store.h"
#include "studio/chat_controller.h"
#include "studio/main_window.h"
#include "widgets/chat_input.h"
#include "widgets/chat_view.h"
#include "widgets/expert_heatmap.h"
#include "widgets/routing_panel.h"
#include "widgets/sampling_panel.h"

using namespace moe;

namespace {

// The longest gap between the ticks of a 5 ms timer on the GUI thread: how long the event loop was held.
// Each gap is split (from /proc/thread-self/schedstat) into the GUI thread's CPU time, its wait in the run
// queue (runnable, but every core busy) and the rest (sleeping or blocked: the timer's own interval, I/O, a
// lock). On a machine that other programs oversubscribe (a build beside the test on 2 cores) gaps also
// stretch in ways the app does not decide: its threads wait for cores, and a thread waits for a lock whose
// holder waits for a core. So the bound is on the whole gap when the GUI thread hardly ever waited for a core
// (< 2 % of the time), and on the GUI thread's own work in any one gap (its CPU time) otherwise.
class StallProbe : public QObject {
 public:
  StallProbe() {
    timer_.setTimerType(Qt::PreciseTimer);
    timer_.setInterval(5);
    connect(&timer_, &QTimer::timeout, this, [this] {
      const qint64 now = clock_.nsecsElapsed();
      const Sched sched = readSched();
      if (last_ >= 0) {
        const qint64 gap = now - last_, waited = sched.waitNs - lastSched_.waitNs,
                     cpu = sched.cpuNs - lastSched_.cpuNs;
        if (gap > max_) {
          max_ = gap;
          maxCpu_ = cpu;
          maxWait_ = waited;
        }
        maxBusy_ = std::max(maxBusy_, cpu);
      } else {
        first_ = sched;
      }
      last_ = now;
      lastSched_ = sched;
      ++ticks_;
    });
  }
  void start() {
    clock_.start();
    last_ = -1;
    max_ = maxCpu_ = maxWait_ = maxBusy_ = 0;
    ticks_ = 0;
    timer_.start();
  }
  void stop() { timer_.stop(); }
  double maxGapMs() const { return double(max_) / 1e6; }
  // Within the longest gap: the GUI thread's CPU time, and its wait for a core.
  double maxGapCpuMs() const { return double(maxCpu_) / 1e6; }
  double maxGapWaitMs() const { return double(maxWait_) / 1e6; }
  // The most CPU time the GUI thread spent between two ticks: its longest piece of work.
  double maxBusyMs() const { return double(maxBusy_) / 1e6; }
  // The share of the time the GUI thread waited for a core.
  double waitShare() const {
    return last_ > 0 ? double(lastSched_.waitNs - first_.waitNs) / double(last_) : 0.0;
  }
  bool oversubscribed() const { return waitShare() > 0.02; }
  int ticks() const { return ticks_; }
  QString describe() const {
    return QString(
               "longest GUI-thread stall %1 ms (%2 ms on the CPU, %3 ms waiting for a core); longest GUI "
               "work between ticks %4 ms; waited for a core %5 % of the time%6")
        .arg(maxGapMs(), 0, 'f', 1)
        .arg(maxGapCpuMs(), 0, 'f', 1)
        .arg(maxGapWaitMs(), 0, 'f', 1)
        .arg(maxBusyMs(), 0, 'f', 1)
        .arg(100 * waitShare(), 0, 'f', 1)
        .arg(oversubscribed() ? " (machine oversubscribed: the bound is on the GUI work)" : "");
  }
  // No frame over 50 ms: the whole gap on a machine that gives the app its cores, else the app's own work.
  bool withinFrameBudget() const { return oversubscribed() ? maxBusyMs() <= 50 : maxGapMs() <= 50; }
  // How far from the budget it is (the quantity the bound applies to).
  double budgetMs() const { return oversubscribed() ? maxBusyMs() : maxGapMs(); }

 private:
  struct Sched {
    qint64 cpuNs = 0, waitNs = 0;
  };
  static Sched readSched() {
    Sched s;
    if (FILE* f = std::fopen("/proc/thread-self/schedstat", "r")) {
      long long cpu = 0, wait = 0;
      if (std::fscanf(f, "%lld %lld", &cpu, &wait) == 2) s = {cpu, wait};
      std::fclose(f);
    }
    return s;
  }
  QTimer timer_;
  QElapsedTimer clock_;
  qint64 last_ = -1, max_ = 0, maxCpu_ = 0, maxWait_ = 0, maxBusy_ = 0;
  Sched first_, lastSched_;
  int ticks_ = 0;
};

// Counts the paint events a widget receives.
class PaintCounter : public QObject {
 public:
  explicit PaintCounter(QWidget* w) { w->installEventFilter(this); }
  int count = 0;

 protected:
  bool eventFilter(QObject*, QEvent* e) override {
    if (e->type() == QEvent::Paint) ++count;
    return false;
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

class GuiStudioPerfTest : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  std::unique_ptr<store::SessionStore> store_;
  std::unique_ptr<studio::MainWindow> window_;
  StallProbe probe_;

  // Sends `text` through the real input as a new chat and waits for the answer's summary.
  studio::GenerationSummary answer(const QString& text, int maxTokens, qint64* elapsedMs = nullptr) {
    auto* sampling = window_->findChild<widgets::SamplingPanel*>();
    widgets::SamplingSettings s = sampling->settings();
    s.maxTokens = maxTokens;
    s.randomSeed = false;
    s.seed = 7;
    sampling->setSettings(s);
    window_->controller()->setIgnoreEos(true);
    window_->controller()->openSession(0);
    auto* editor = window_->chatInput()->findChild<QPlainTextEdit*>();
    editor->setFocus();
    editor->setPlainText(text);
    QSignalSpy stats(window_->controller(), &studio::ChatController::statsChanged);
    QElapsedTimer clock;
    clock.start();
    QTest::keyClick(editor, Qt::Key_Return);
    if (!window_->controller()->isGenerating()) return {};
    if (!stats.wait(300000)) return {};
    if (elapsedMs) *elapsedMs = clock.elapsed();
    return stats.takeFirst().at(0).value<studio::GenerationSummary>();
  }

 private slots:
  void initTestCase() {
    QVERIFY(tmp_.isValid());
    store_ = std::make_unique<store::SessionStore>(tmp_.filePath("studio.db"));
    QVERIFY(store_->open().ok());
    window_ = std::make_unique<studio::MainWindow>(*store_);
    window_->resize(1440, 960);
    window_->show();
    QVERIFY(QTest::qWaitForWindowExposed(window_.get()));
    QTest::qWait(300);  // first paints, fonts

    const QString model = studio::MainWindow::demoModelPath();
    QVERIFY2(!model.isEmpty(), "the built-in demo model was not found");
    QSignalSpy loaded(window_.get(), &studio::MainWindow::modelLoaded);
    probe_.start();
    window_->loadModel(model, 2048);
    QVERIFY(loaded.wait(60000));
    QTest::qWait(100);  // the paints that follow the load
    probe_.stop();
    qInfo("loading: %s (%d ticks of a 5 ms timer)", qPrintable(probe_.describe()), probe_.ticks());
    QVERIFY2(probe_.withinFrameBudget(), qPrintable(probe_.describe()));
  }

  // One long answer: the GUI keeps up (no stall over 50 ms) and the heatmap repaints at >= 10 Hz.
  void generation_stalls_and_heatmap_rate() {
    auto* heatmap = window_->routingPanel()->heatmap();
    QVERIFY(heatmap->isVisible());
    PaintCounter paints(heatmap);
    int replots0 = heatmap->replotCount();
    // Long enough to measure a rate: at least 2 s of decoding, up to what the context holds.
    int tokens = 1000;
    studio::GenerationSummary s;
    qint64 elapsed = 0;
    while (true) {
      paints.count = 0;
      replots0 = heatmap->replotCount();
      probe_.start();
      s = answer("Tell me about the sea.", tokens, &elapsed);
      probe_.stop();
      QCOMPARE(s.generated_tokens, int64_t(tokens));
      if (elapsed >= 2000 || tokens >= 1900) break;
      tokens = 1900;
    }
    const int replots = heatmap->replotCount() - replots0;
    const double seconds = double(elapsed) / 1000;
    const double paintHz = paints.count / seconds;
    qInfo(
        "generation: %lld tokens in %.2f s (%.1f tok/s decode); %s; heatmap %d paints (%.1f Hz), %d replots",
        (long long)s.generated_tokens, seconds, s.decode_tokens_per_second, qPrintable(probe_.describe()),
        paints.count, paintHz, replots);
    QVERIFY2(seconds >= 1.0, "the generation was too short to measure a rate");
    QVERIFY2(probe_.withinFrameBudget(), qPrintable(probe_.describe()));
    QVERIFY2(paintHz >= 10, qPrintable(QString("heatmap repainted at %1 Hz").arg(paintHz)));
    // The throttle keeps replots at <= ~15 Hz (a few more for the first and last refresh).
    QVERIFY2(replots <= seconds * 16 + 4, qPrintable(QString("%1 replots").arg(replots)));
  }

  // Live routing views cost at most 5 % of decode speed: dock shown vs hidden, in blocks of A B B A.
  void live_views_slowdown() {
    QDockWidget* dock = window_->routingDock();
    QVERIFY(dock);
    auto* heatmap = window_->routingPanel()->heatmap();
    struct Block {
      double live[2], hidden[2];
      double ratio() const { return (live[0] + live[1]) / (hidden[0] + hidden[1]); }
      // Its two runs of each kind agree within 3 %: the machine held still while it ran.
      bool steady() const {
        auto close = [](const double* v) { return std::fabs(v[0] - v[1]) <= 0.03 * std::max(v[0], v[1]); };
        return close(live) && close(hidden);
      }
    };
    std::vector<Block> blocks;
    double worstBudget = -1;
    bool worstWithin = true;
    QString worstStall;
    // Blocks of live, hidden, hidden, live: a drift of the machine's speed within a block cancels out. Five
    // steady blocks are wanted, out of at most twelve.
    const int wanted = qEnvironmentVariableIntValue("MOE_PERF_BLOCKS") > 0
                           ? qEnvironmentVariableIntValue("MOE_PERF_BLOCKS")
                           : 5;
    int steady = 0;
    for (int b = 0; b < 12 && steady < wanted; ++b) {
      Block block{};
      int n[2] = {0, 0};
      for (bool shown : {true, false, false, true}) {
        dock->setVisible(shown);
        QTest::qWait(50);
        const int replots0 = heatmap->replotCount();
        probe_.start();
        const auto s = answer("What does water mean?", 500);
        probe_.stop();
        QCOMPARE(s.generated_tokens, int64_t(500));
        if (probe_.budgetMs() > worstBudget) {
          worstBudget = probe_.budgetMs();
          worstStall = probe_.describe();
        }
        worstWithin = worstWithin && probe_.withinFrameBudget();
        // Shown, the heatmap followed the answer; hidden, it did no work.
        if (shown)
          QVERIFY(heatmap->replotCount() > replots0);
        else
          QCOMPARE(heatmap->replotCount(), replots0);
        (shown ? block.live : block.hidden)[n[shown]++] = s.decode_tokens_per_second;
      }
      blocks.push_back(block);
      steady += block.steady();
    }
    dock->show();
    // The steady blocks when there are enough of them; otherwise the machine was too busy to resolve 5 %, and
    // all blocks are held to a looser bound (which a real cost of the views still exceeds).
    const bool resolved = steady >= std::min(wanted, 3);
    std::vector<double> ratios, live, hidden;
    QStringList all;
    for (const Block& b : blocks) {
      all << QString("%1 %2 | %3 %4%5")
                 .arg(b.live[0], 0, 'f', 0)
                 .arg(b.hidden[0], 0, 'f', 0)
                 .arg(b.hidden[1], 0, 'f', 0)
                 .arg(b.live[1], 0, 'f', 0)
                 .arg(b.steady() ? "" : " (unsteady)");
      if (resolved && !b.steady()) continue;
      ratios.push_back(b.ratio());
      live.insert(live.end(), {b.live[0], b.live[1]});
      hidden.insert(hidden.end(), {b.hidden[0], b.hidden[1]});
    }
    const double slowdown = 100.0 * (1 - median(ratios));
    qInfo("decode tok/s, blocks of live hidden | hidden live: %s", qPrintable(all.join("; ")));
    qInfo(
        "live routing views: median %.1f tok/s live vs %.1f hidden; slowdown (median over %d %s blocks) "
        "%.1f %%; the worst answer's %s",
        median(live), median(hidden), int(ratios.size()), resolved ? "steady" : "unsteady", slowdown,
        qPrintable(worstStall));
    const double limit = qEnvironmentVariableIsSet("MOE_PERF_SLOWDOWN_LIMIT")
                             ? qEnvironmentVariable("MOE_PERF_SLOWDOWN_LIMIT").toDouble()
                         : resolved ? 5.0
                                    : 15.0;
    if (!resolved)
      qWarning("the machine was too busy for a 5 %% bound: holding the slowdown to %.0f %%", limit);
    QVERIFY2(slowdown <= limit, qPrintable(QString("slowdown %1 % > %2 %").arg(slowdown).arg(limit)));
    QVERIFY2(worstWithin, qPrintable(worstStall));
  }

  void cleanupTestCase() {
    window_.reset();
    store_.reset();
  }
};

QTEST_MAIN(GuiStudioPerfTest)
#include "test_gui_studio_perf.moc"
