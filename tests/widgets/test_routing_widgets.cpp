// The routing views driven as a user would (offscreen): records streamed in, the heatmap's cells equal to the
// counts, repaints throttled to ~15 Hz while 2000 records arrive, a click on a token in the strip selecting
// it and showing its experts in the table, CSV exports byte for byte, PNG exports of the requested size, and
// the whole panel rendered at 1280x800 (saved to $MOE_SCREENSHOT_DIR when set, for a person to look at).
#include <QElapsedTimer>
#include <QImage>
#include <QLabel>
#include <QSignalSpy>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QtTest>

#include "widgets/balance_plot.h"
#include "widgets/coactivation_view.h"
#include "widgets/expert_heatmap.h"
#include "widgets/routing_panel.h"
#include "widgets/token_routing_table.h"
#include "widgets/token_strip.h"

using namespace moe::widgets;

namespace {

// Deterministic synthetic routing: a few popular experts per layer (so the maps have structure), distinct
// choices per token, softmax-like descending weights, a prompt part and a generated part per answer.
class Synth {
 public:
  Synth(int layers, int experts, int k) : L_(layers), E_(experts), K_(k) {}
  uint32_t next() { return (state_ = state_ * 1664525u + 1013904223u) >> 8; }
  TokenRouting make(int answer, qint64 pos, bool prompt, const QString& piece) {
    TokenRouting r;
    r.answer = answer;
    r.position = pos;
    r.prompt = prompt;
    r.piece = piece;
    for (int l = 0; l < L_; ++l) {
      std::vector<int> chosen;
      while (int(chosen.size()) < K_) {
        // Half the time one of three layer-specific favourites, otherwise uniform.
        int e = next() % 2 ? int((l * 5 + next() % 3) % E_) : int(next() % E_);
        if (std::find(chosen.begin(), chosen.end(), e) == chosen.end()) chosen.push_back(e);
      }
      float w = 0.5f + float(next() % 40) / 100.0f, rest = 1.0f - w;
      for (int s = 0; s < K_; ++s) {
        r.experts.push_back(chosen[size_t(s)]);
        r.weights.push_back(s == 0 ? w : rest / float(K_ - 1));
      }
    }
    return r;
  }

 private:
  int L_, E_, K_;
  uint32_t state_ = 2024;
};

const QStringList kWords = {"The",    " router", " sends",   " each", " token", " to",  " two",
                            " of",    " eight",  " experts", ",",     " and",   " the", " heatmap",
                            " shows", " where",  " it",      " went", ".",      "\n"};

// Counts [layer][expert] computed straight from the records, independent of RoutingStats.
std::vector<int64_t> countByHand(const RoutingData& d, const RoutingScope& scope) {
  std::vector<int64_t> c(size_t(d.nLayers() * d.nExperts()), 0);
  for (int i = 0; i < d.size(); ++i) {
    if (!scope.contains(d, i)) continue;
    for (int l = 0; l < d.nLayers(); ++l)
      for (int s = 0; s < d.topK(); ++s)
        if (int e = d.expert(i, l, s); e >= 0) ++c[size_t(l * d.nExperts() + e)];
  }
  return c;
}

void compareCells(ExpertHeatmap& h, const std::vector<int64_t>& expected) {
  const RoutingData& d = h.stats().data();
  QCOMPARE(h.colorMap()->data()->keySize(), d.nExperts());
  QCOMPARE(h.colorMap()->data()->valueSize(), d.nLayers());
  for (int l = 0; l < d.nLayers(); ++l)
    for (int e = 0; e < d.nExperts(); ++e)
      QCOMPARE(h.colorMap()->data()->cell(e, l), double(expected[size_t(l * d.nExperts() + e)]));
}

// Two answers: 12 prompt + 30 generated, then 8 prompt + 25 generated.
void fillSession(RoutingData& d, Synth& s) {
  int pos = 0;
  for (int a = 0; a < 2; ++a) {
    const int prompt = a == 0 ? 12 : 8, generated = a == 0 ? 30 : 25;
    for (int i = 0; i < prompt + generated; ++i, ++pos)
      d.append(s.make(a, pos, i < prompt, kWords[pos % kWords.size()]));
  }
}

}  // namespace

class RoutingWidgetsTest : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;

 private slots:
  void heatmap_cells_equal_counts() {
    RoutingData data;
    data.reset({4, 8, 2, {}});
    ExpertHeatmap heatmap(&data);
    heatmap.resize(640, 420);
    heatmap.show();
    QVERIFY(QTest::qWaitForWindowExposed(&heatmap));
    Synth synth(4, 8, 2);
    fillSession(data, synth);
    // The throttle, not the append, repaints: wait for it as the event loop would.
    QTRY_VERIFY_WITH_TIMEOUT(!heatmap.stats().data().isEmpty() && heatmap.stats().tokens() == data.size(),
                             1000);
    QTest::qWait(2 * RepaintThrottle::kIntervalMs);
    compareCells(heatmap, countByHand(data, RoutingScope::session()));
    QCOMPARE(heatmap.colorScale()->dataRange().lower, 0.0);

    // Another scope: generated tokens of this (the latest) answer.
    const RoutingScope gen = RoutingScope::thisAnswer(RoutingScope::kLatestAnswer, TokenFilter::Generated);
    heatmap.setScope(gen);
    QTest::qWait(2 * RepaintThrottle::kIntervalMs);
    QCOMPARE(heatmap.stats().tokens(), 25);
    compareCells(heatmap, countByHand(data, gen));

    // The tooltip of a cell names its layer, expert and count.
    const double key = 3, value = 2;
    const QPoint at(int(heatmap.xAxis->coordToPixel(key)), int(heatmap.yAxis->coordToPixel(value)));
    const QString tip = heatmap.toolTipAt(at);
    const int64_t c = countByHand(data, gen)[size_t(2 * 8 + 3)];
    QVERIFY2(tip.contains(QStringLiteral("layer 2")) && tip.contains(QStringLiteral("expert 3")),
             qPrintable(tip));
    QVERIFY2(tip.contains(QStringLiteral("%1 tokens").arg(c)), qPrintable(tip));
    QVERIFY(heatmap.toolTipAt(QPoint(1, 1)).isEmpty());
  }

  void repaints_are_throttled() {
    RoutingData data;
    data.reset({8, 16, 2, {}});
    ExpertHeatmap heatmap(&data);
    BalancePlot balance(&data);
    TokenStrip strip(&data);
    strip.setLayer(0);
    for (QWidget* w : std::initializer_list<QWidget*>{&heatmap, &balance, &strip}) {
      w->resize(500, 300);
      w->show();
      QVERIFY(QTest::qWaitForWindowExposed(w));
    }
    QTest::qWait(100);
    const int heat0 = heatmap.replotCount(), bal0 = balance.replotCount(), strip0 = strip.refreshCount();
    Synth synth(8, 16, 2);
    QElapsedTimer clock;
    clock.start();
    // 2000 records, one append (and one signal) each, with the event loop running between them the way the
    // studio's queued batches arrive: far more appends than a screen could show.
    for (int i = 0; i < 2000; ++i) {
      data.append(synth.make(0, i, i < 100, QStringLiteral("w%1 ").arg(i)));
      if (i % 10 == 0) QTest::qWait(1);
      QCoreApplication::processEvents();
    }
    const qint64 elapsed = clock.elapsed();
    QTest::qWait(3 * RepaintThrottle::kIntervalMs);
    const int allowed = int(elapsed / RepaintThrottle::kIntervalMs) + 3;
    const int heat = heatmap.replotCount() - heat0, bal = balance.replotCount() - bal0,
              str = strip.refreshCount() - strip0;
    qInfo("2000 appends in %lld ms: heatmap %d replots, balance %d, strip %d refreshes (bound %d)", elapsed,
          heat, bal, str, allowed);
    QVERIFY2(heat >= 1 && heat <= allowed, qPrintable(QString::number(heat)));
    QVERIFY2(bal >= 1 && bal <= allowed, qPrintable(QString::number(bal)));
    QVERIFY2(str >= 1 && str <= allowed, qPrintable(QString::number(str)));
    QVERIFY(heat < 200);  // whatever the machine's speed, far fewer than the 2000 appends
    // And after the stream, everything is shown.
    compareCells(heatmap, countByHand(data, RoutingScope::session()));
    QCOMPARE(balance.cvGraph()->data()->size(), 8);
    QCOMPARE(strip.tokenRect(1999).isEmpty(), false);
  }

  void balance_plot_shows_metrics() {
    RoutingData data;
    data.reset({2, 4, 1, {}});
    // layer 0 loads [3,1,0,0]; layer 1 loads [1,1,1,1].
    const int l0[4] = {0, 0, 0, 1}, l1[4] = {0, 1, 2, 3};
    for (int i = 0; i < 4; ++i)
      data.append(TokenRouting{0, i, false, "x", {l0[i], l1[i]}, {1.f, 1.f}});
    BalancePlot plot(&data);
    plot.refreshNow();
    auto value = [](QCPGraph* g, int layer) { return (g->data()->constBegin() + layer)->value; };
    QVERIFY(std::fabs(value(plot.cvGraph(), 0) - std::sqrt(1.5)) < 1e-12);
    QVERIFY(std::fabs(value(plot.maxVioGraph(), 0) - 2.0) < 1e-12);
    const double h = -(0.75 * std::log(0.75) + 0.25 * std::log(0.25)) / std::log(4.0);
    QVERIFY(std::fabs(value(plot.entropyGraph(), 0) - h) < 1e-12);
    QCOMPARE(value(plot.cvGraph(), 1), 0.0);
    QVERIFY(std::fabs(value(plot.entropyGraph(), 1) - 1.0) < 1e-12);
  }

  // The legend under the balance plot fits the plot at the widths the routing dock gives it (a 1440 px
  // window gives it about 300 px): every entry, its icon and its full text, inside the widget.
  void balance_legend_fits() {
    RoutingData data;
    data.reset({4, 8, 2, {}});
    for (int i = 0; i < 20; ++i)
      data.append(TokenRouting{
          0,
          i,
          false,
          "x",
          {i % 8, (i + 1) % 8, (i + 2) % 8, (i + 3) % 8, (i + 4) % 8, (i + 5) % 8, (i + 6) % 8, (i + 7) % 8},
          {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f}});
    for (int width : {300, 340, 420, 600}) {
      BalancePlot plot(&data);
      plot.resize(width, 240);
      plot.show();
      QVERIFY(QTest::qWaitForWindowExposed(&plot));
      plot.refreshNow();
      for (QCPGraph* graph : {plot.cvGraph(), plot.maxVioGraph(), plot.entropyGraph()}) {
        QCPPlottableLegendItem* item = plot.legend->itemWithPlottable(graph);
        QVERIFY(item);
        const QRect r = item->outerRect();
        const int need = QFontMetrics(item->font()).horizontalAdvance(item->plottable()->name()) +
                         plot.legend->iconSize().width() + plot.legend->iconTextPadding() +
                         item->margins().left() + item->margins().right();
        QVERIFY2(plot.rect().contains(r) && r.width() >= need,
                 qPrintable(QString("width %1: legend entry %2 at %3,%4 %5x%6 needs %7 px")
                                .arg(width)
                                .arg(item->plottable()->name())
                                .arg(r.x())
                                .arg(r.y())
                                .arg(r.width())
                                .arg(r.height())
                                .arg(need)));
      }
    }
  }

  void click_in_strip_selects_token() {
    RoutingPanel panel;
    panel.resize(1280, 800);
    panel.data()->reset({6, 8, 2, {}});
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    Synth synth(6, 8, 2);
    fillSession(*panel.data(), synth);
    panel.setLayer(2);
    panel.refreshNow();
    TokenStrip* strip = panel.tokenStrip();
    const int target = 17;
    const QRect r = strip->tokenRect(target);
    QVERIFY(!r.isEmpty());
    QSignalSpy clicked(strip, &TokenStrip::tokenClicked);
    QSignalSpy selected(&panel, &RoutingPanel::tokenSelected);
    QTest::mouseClick(strip->tokenArea(), Qt::LeftButton, {}, r.center());
    QCOMPARE(clicked.count(), 1);
    QCOMPARE(clicked.at(0).at(0).toInt(), target);
    QCOMPARE(selected.count(), 1);
    QCOMPARE(panel.selectedToken(), target);
    QCOMPARE(strip->selected(), target);
    // A click between chips selects nothing.
    QTest::mouseClick(strip->tokenArea(), Qt::LeftButton, {}, QPoint(r.right() + 2, r.center().y()));
    QCOMPARE(clicked.count(), 1);

    // The table shows this token's experts and weights, one row per layer.
    const RoutingData& d = *panel.data();
    QTableWidget* table = panel.tokenTable()->table();
    QCOMPARE(table->rowCount(), 6);
    QCOMPARE(table->columnCount(), 2);
    for (int l = 0; l < 6; ++l)
      for (int s = 0; s < 2; ++s) {
        QCOMPARE(table->item(l, s)->data(Qt::UserRole).toInt(), d.expert(target, l, s));
        QCOMPARE(table->item(l, s)->data(Qt::UserRole + 1).toDouble(), double(d.weight(target, l, s)));
        QVERIFY(table->item(l, s)->text().startsWith(QString::number(d.expert(target, l, s)) + " "));
      }
    QVERIFY(panel.tokenTable()->titleLabel()->text().contains(QStringLiteral("Token 17")));

    // Selected-token scope: the heatmap shows exactly that token's choices.
    panel.setScopeKind(ScopeKind::Token);
    panel.refreshNow();
    compareCells(*panel.heatmap(), countByHand(d, RoutingScope::selectedToken(target)));
    QCOMPARE(panel.heatmap()->stats().tokens(), 1);
    QVERIFY(!panel.filterBox()->isEnabled());

    // The strip's legend counts the top-1 experts at the chosen layer of the tokens in scope.
    panel.setScopeKind(ScopeKind::Session);
    panel.setTokenFilter(TokenFilter::Generated);
    int legend_total = 0;
    for (auto [e, n] : strip->legendEntries()) {
      QVERIFY(e >= 0 && e < 8);
      legend_total += n;
    }
    QCOMPARE(legend_total, 55);
    QVERIFY(strip->legendLabel()->text().contains(QStringLiteral("layer 2")));
  }

  void csv_export_exact() {
    RoutingPanel panel;
    // Three experts, top-2, two MoE layers that are layers 1 and 3 of the model.
    panel.data()->reset({2, 3, 2, {1, 3}});
    panel.data()->append(TokenRouting{0, 0, true, "a", {0, 1, 2, 0}, {.6f, .4f, .7f, .3f}});
    panel.data()->append(TokenRouting{0, 1, false, "b", {0, 2, 2, 1}, {.5f, .5f, .9f, .1f}});
    panel.data()->append(TokenRouting{0, 2, false, "c", {1, 0, 2, 1}, {.8f, .2f, .6f, .4f}});
    panel.setScopeKind(ScopeKind::Session);
    panel.setLayer(1);
    const QString heat = tmp_.filePath("heat.csv"), co = tmp_.filePath("co.csv");
    QVERIFY(panel.exportHeatmapCsv(heat));
    QVERIFY(panel.exportCoactivationCsv(co));
    auto read = [](const QString& path) {
      QFile f(path);
      return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
    };
    // layer 1 (index 0): e0 3, e1 2, e2 1; layer 3 (index 1): e0 1, e1 2, e2 3
    QCOMPARE(read(heat), QByteArray("layer,expert_0,expert_1,expert_2\n"
                                    "1,3,2,1\n"
                                    "3,1,2,3\n"));
    // layer index 1 pairs: {2,0} {2,1} {2,1}
    QCOMPARE(read(co), QByteArray("expert,expert_0,expert_1,expert_2\n"
                                  "0,1,0,1\n"
                                  "1,0,2,2\n"
                                  "2,1,2,3\n"));
    // The generated-only scope: the first record drops out.
    panel.setTokenFilter(TokenFilter::Generated);
    QVERIFY(panel.exportHeatmapCsv(heat));
    QCOMPARE(read(heat), QByteArray("layer,expert_0,expert_1,expert_2\n"
                                    "1,2,1,1\n"
                                    "3,0,2,2\n"));
  }

  void png_export_size() {
    RoutingPanel panel;
    panel.data()->reset({12, 16, 2, {}});
    Synth synth(12, 16, 2);
    fillSession(*panel.data(), synth);
    const QString heat = tmp_.filePath("heat.png"), co = tmp_.filePath("co.png");
    QVERIFY(panel.exportHeatmapPng(heat, 800, 600));
    QVERIFY(panel.exportCoactivationPng(co, 500, 420));
    QVERIFY(QFileInfo(heat).size() > 1000);
    const QImage a(heat), b(co);
    QCOMPARE(a.size(), QSize(800, 600));
    QCOMPARE(b.size(), QSize(500, 420));
    // Not a blank canvas: the map's colours are there (viridis dark purple at least).
    QSet<QRgb> colours;
    for (int y = 0; y < a.height(); y += 7)
      for (int x = 0; x < a.width(); x += 7)
        colours.insert(a.pixel(x, y));
    QVERIFY2(colours.size() > 20, qPrintable(QString::number(colours.size())));
  }

  void dense_and_empty_shapes() {
    // A dense model is the one-expert case; before any model is open the shape is empty. Neither may break.
    RoutingPanel panel;
    panel.resize(1280, 800);
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    panel.refreshNow();
    QVERIFY(panel.exportHeatmapPng(tmp_.filePath("empty.png"), 300, 200));
    QVERIFY(panel.exportHeatmapCsv(tmp_.filePath("empty.csv")));
    panel.data()->reset({3, 1, 1, {}});
    for (int i = 0; i < 5; ++i)
      panel.data()->append(TokenRouting{0, i, i < 2, "d", {0, 0, 0}, {1.f, 1.f, 1.f}});
    panel.refreshNow();
    QCOMPARE(panel.heatmap()->colorMap()->data()->cell(0, 2), 5.0);
    const BalanceMetrics m = panel.heatmap()->stats().balance(0);
    QCOMPARE(m.cv, 0.0);
    QCOMPARE(m.normEntropy, 1.0);
    QVERIFY(panel.exportHeatmapPng(tmp_.filePath("dense.png"), 300, 200));
    QVERIFY(panel.exportCoactivationPng(tmp_.filePath("dense_co.png"), 300, 200));
    QCOMPARE(QImage(tmp_.filePath("dense.png")).size(), QSize(300, 200));
  }

  void panel_renders_at_1280x800() {
    RoutingPanel panel;
    panel.data()->reset({24, 32, 4, {}});
    Synth synth(24, 32, 4);
    fillSession(*panel.data(), synth);
    panel.resize(1280, 800);
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    panel.setLayer(5);
    panel.selectToken(20);
    panel.refreshNow();
    QTest::qWait(50);
    const QImage shot = panel.grab().toImage();
    QCOMPARE(shot.size() / shot.devicePixelRatio(), QSize(1280, 800));
    if (const QByteArray dir = qgetenv("MOE_SCREENSHOT_DIR"); !dir.isEmpty())
      QVERIFY(shot.save(QString::fromLocal8Bit(dir) + "/routing_panel.png"));
  }

  void panel_renders_large_model() {
    // A Qwen3-30B-A3B-like shape (48 layers, 128 experts, top-8) whose MoE layers are model layers 1..48, in
    // the session scope over generated tokens, with a token selected.
    RoutingPanel panel;
    std::vector<int> ids(48);
    for (int l = 0; l < 48; ++l)
      ids[size_t(l)] = l + 1;
    panel.data()->reset({48, 128, 8, ids});
    Synth synth(48, 128, 8);
    fillSession(*panel.data(), synth);
    panel.resize(1280, 800);
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    panel.setScopeKind(ScopeKind::Session);
    panel.setTokenFilter(TokenFilter::Generated);
    panel.setLayer(47);
    panel.selectToken(50);
    panel.refreshNow();
    QTest::qWait(50);
    QCOMPARE(panel.heatmap()->stats().tokens(), 55);
    QCOMPARE(panel.tokenTable()->table()->verticalHeaderItem(0)->text(), QStringLiteral("layer 1"));
    const QImage shot = panel.grab().toImage();
    if (const QByteArray dir = qgetenv("MOE_SCREENSHOT_DIR"); !dir.isEmpty())
      QVERIFY(shot.save(QString::fromLocal8Bit(dir) + "/routing_panel_large.png"));
  }
};

QTEST_MAIN(RoutingWidgetsTest)
#include "test_routing_widgets.moc"
