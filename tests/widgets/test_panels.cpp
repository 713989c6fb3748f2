// SamplingPanel (settings round trip through JSON, changed() on edits), ChatInput (Enter sends, Shift+Enter
// breaks the line, Stop only while generating) and ModelPanel (human-readable numbers).
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QHBoxLayout>
#include <QJsonDocument>
#include <QLocale>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QVBoxLayout>
#include <QtTest>

#include "widgets/chat_input.h"
#include "widgets/model_panel.h"
#include "widgets/sampling_panel.h"

using namespace moe::widgets;

class TestPanels : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { QLocale::setDefault(QLocale(QLocale::English, QLocale::UnitedStates)); }

  void samplingDefaults() {
    SamplingPanel panel;
    const SamplingSettings s = panel.settings();
    QCOMPARE(s, SamplingSettings());
    QCOMPARE(s.temperature, 0.8);
    QCOMPARE(s.topK, 40);
    QCOMPARE(s.topP, 0.95);
    QCOMPARE(s.minP, 0.05);
    QCOMPARE(s.repetitionPenalty, 1.0);
    QCOMPARE(s.maxTokens, 512);
    QVERIFY(s.randomSeed);
    QVERIFY(!panel.seedBox()->isEnabled());
    QCOMPARE(panel.templateBox()->currentText(), QStringLiteral("Model's template"));
  }

  void samplingRoundTripThroughJson() {
    SamplingSettings s;
    s.temperature = 0.35;
    s.topK = 12;
    s.topP = 0.9;
    s.minP = 0.1;
    s.repetitionPenalty = 1.15;
    s.maxTokens = 2048;
    s.randomSeed = false;
    s.seed = 1234567;
    s.systemPrompt = QStringLiteral("You are a pirate.\nSpeak like one.");
    s.templateName = QStringLiteral("chatml");
    s.rawCompletion = true;
    s.enableThinking = false;

    // Through JSON text, as a session stores it.
    const QByteArray text = QJsonDocument(s.toJson()).toJson();
    const SamplingSettings back = SamplingSettings::fromJson(QJsonDocument::fromJson(text).object());
    QCOMPARE(back, s);

    // Through the panel.
    SamplingPanel panel;
    panel.setTemplates({QStringLiteral("chatml"), QStringLiteral("llama3")});
    QSignalSpy spy(&panel, &SamplingPanel::changed);
    panel.setSettings(back);
    QCOMPARE(spy.count(), 0);  // only the user's edits count as changes
    QCOMPARE(panel.settings(), s);
    QVERIFY(panel.seedBox()->isEnabled());
    QVERIFY(!panel.systemPromptEdit()->isEnabled());  // raw completion has no system prompt
    QCOMPARE(panel.templateBox()->currentText(), QStringLiteral("chatml"));

    // A template that is no longer offered is kept, not silently replaced.
    s.templateName = QStringLiteral("gone");
    panel.setSettings(s);
    QCOMPARE(panel.settings().templateName, QStringLiteral("gone"));

    // Missing keys take defaults, wrong types are ignored, numbers are clamped.
    QCOMPARE(SamplingSettings::fromJson({}), SamplingSettings());
    const SamplingSettings odd = SamplingSettings::fromJson(
        QJsonObject{{"temperature", 99.0}, {"top_k", "many"}, {"max_tokens", -5}, {"top_p", 0.5}});
    QCOMPARE(odd.temperature, 5.0);
    QCOMPARE(odd.topK, 40);
    QCOMPARE(odd.maxTokens, 1);
    QCOMPARE(odd.topP, 0.5);
  }

  void samplingEmitsChangedOnEdits() {
    SamplingPanel panel;
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    QSignalSpy spy(&panel, &SamplingPanel::changed);

    panel.temperatureBox()->selectAll();
    QTest::keyClicks(panel.temperatureBox(), QStringLiteral("0.5"));
    QVERIFY(spy.count() > 0);
    QCOMPARE(panel.settings().temperature, 0.5);

    spy.clear();
    panel.topKBox()->selectAll();
    QTest::keyClicks(panel.topKBox(), QStringLiteral("12"));
    QVERIFY(spy.count() > 0);
    QCOMPARE(panel.settings().topK, 12);

    spy.clear();
    panel.maxTokensBox()->selectAll();
    QTest::keyClicks(panel.maxTokensBox(), QStringLiteral("1000"));
    QCOMPARE(panel.settings().maxTokens, 1000);
    QVERIFY(spy.count() > 0);

    spy.clear();
    QTest::mouseClick(panel.randomSeedBox(), Qt::LeftButton, {},
                      QPoint(6, panel.randomSeedBox()->height() / 2));
    QCOMPARE(spy.count(), 1);
    QVERIFY(panel.seedBox()->isEnabled());

    spy.clear();
    QTest::keyClicks(panel.systemPromptEdit(), QStringLiteral("Be brief."));
    QVERIFY(spy.count() > 0);
    QCOMPARE(panel.settings().systemPrompt, QStringLiteral("Be brief."));

    spy.clear();
    panel.setTemplates({QStringLiteral("chatml")});
    QCOMPARE(spy.count(), 0);
    panel.templateBox()->setCurrentIndex(1);
    QCOMPARE(spy.count(), 1);
    QCOMPARE(panel.settings().templateName, QStringLiteral("chatml"));

    spy.clear();
    // On the box itself: a check box spanning a form row only reacts over its indicator and label.
    QTest::mouseClick(panel.enableThinkingBox(), Qt::LeftButton, {},
                      QPoint(6, panel.enableThinkingBox()->height() / 2));
    QCOMPARE(spy.count(), 1);
    QVERIFY(!panel.settings().enableThinking);
  }

  void chatInputEnterSendsShiftEnterBreaks() {
    ChatInput input;
    input.show();
    QSignalSpy sent(&input, &ChatInput::sendRequested);
    QSignalSpy stopped(&input, &ChatInput::stopRequested);
    QVERIFY(!input.sendButton()->isEnabled());  // nothing to send yet
    QVERIFY(!input.stopButton()->isEnabled());

    QTest::keyClicks(input.editor(), QStringLiteral("hello"));
    QTest::keyClick(input.editor(), Qt::Key_Return, Qt::ShiftModifier);
    QTest::keyClicks(input.editor(), QStringLiteral("world"));
    QCOMPARE(sent.count(), 0);
    QCOMPARE(input.text(), QStringLiteral("hello\nworld"));
    QVERIFY(input.sendButton()->isEnabled());

    QTest::keyClick(input.editor(), Qt::Key_Return);
    QCOMPARE(sent.count(), 1);
    QCOMPARE(sent.at(0).at(0).toString(), QStringLiteral("hello\nworld"));
    QVERIFY(input.text().isEmpty());

    // Blank text is not sent.
    QTest::keyClicks(input.editor(), QStringLiteral("   "));
    QTest::keyClick(input.editor(), Qt::Key_Enter);
    QCOMPARE(sent.count(), 1);
    input.setText(QString());

    // While generating: Stop works, sending waits.
    input.setGenerating(true);
    QVERIFY(input.stopButton()->isEnabled());
    QTest::keyClicks(input.editor(), QStringLiteral("next"));
    QVERIFY(!input.sendButton()->isEnabled());
    QTest::keyClick(input.editor(), Qt::Key_Return);
    QCOMPARE(sent.count(), 1);
    QCOMPARE(input.text(), QStringLiteral("next"));  // kept for when the answer is done
    QTest::mouseClick(input.stopButton(), Qt::LeftButton);
    QCOMPARE(stopped.count(), 1);
    input.setGenerating(false);
    QVERIFY(!input.stopButton()->isEnabled());
    QTest::mouseClick(input.sendButton(), Qt::LeftButton);
    QCOMPARE(sent.count(), 2);
    QCOMPARE(sent.at(1).at(0).toString(), QStringLiteral("next"));
  }

  void modelPanelFormatsNumbers() {
    QCOMPARE(ModelPanel::formatCount(30'532'122'624), QStringLiteral("30.5 B"));
    QCOMPARE(ModelPanel::formatCount(3'340'000'000), QStringLiteral("3.34 B"));
    QCOMPARE(ModelPanel::formatCount(1'230'000'000), QStringLiteral("1.23 B"));
    QCOMPARE(ModelPanel::formatCount(137'000'000), QStringLiteral("137 M"));
    QCOMPARE(ModelPanel::formatCount(999'700'000), QStringLiteral("1.00 B"));
    QCOMPARE(ModelPanel::formatCount(4'200), QStringLiteral("4.20 K"));
    QCOMPARE(ModelPanel::formatCount(512), QStringLiteral("512"));
    QCOMPARE(ModelPanel::formatBytes(4'831'838'208), QStringLiteral("4.50 GiB"));
    QCOMPARE(ModelPanel::formatBytes(536'870'912), QStringLiteral("512 MiB"));
    QCOMPARE(ModelPanel::formatBytes(999), QStringLiteral("999 B"));
    QCOMPARE(ModelPanel::formatBytes(1536), QStringLiteral("1.50 KiB"));
    QCOMPARE(ModelPanel::formatBytes(1024LL * 1024 * 1024 * 1024 * 3 / 2), QStringLiteral("1.50 TiB"));

    ModelPanel panel;
    QVERIFY(panel.fieldText(QStringLiteral("Parameters")).isEmpty());
    ModelFacts f;
    f.path = QStringLiteral("/models/Qwen3-30B-A3B");
    f.architecture = QStringLiteral("Qwen3MoeForCausalLM");
    f.layers = 48;
    f.moeLayers = 48;
    f.experts = 128;
    f.topK = 8;
    f.totalParameters = 30'532'122'624;
    f.activeParameters = 3'340'000'000;
    f.weightBytes = 61'064'245'248;
    f.contextLength = 32768;
    f.kvCacheBytes = 3'221'225'472;
    f.backend = QStringLiteral("CUDA");
    f.gpuName = QStringLiteral("NVIDIA H100 80GB HBM3");
    f.gpuMemoryBytes = 85'520'809'984;
    panel.setFacts(f);
    QCOMPARE(panel.fieldText(QStringLiteral("Model")), QStringLiteral("Qwen3-30B-A3B"));
    QCOMPARE(panel.fieldText(QStringLiteral("Layers")), QStringLiteral("48 (all MoE)"));
    QCOMPARE(panel.fieldText(QStringLiteral("Experts")), QStringLiteral("128 routed, top-8 per token"));
    QCOMPARE(panel.fieldText(QStringLiteral("Parameters")),
             QStringLiteral("30.5 B total \u00B7 3.34 B active"));
    QCOMPARE(panel.fieldText(QStringLiteral("Weights")), QStringLiteral("56.9 GiB"));
    QCOMPARE(panel.fieldText(QStringLiteral("Context")), QStringLiteral("32,768 tokens"));
    QCOMPARE(panel.fieldText(QStringLiteral("KV cache")), QStringLiteral("3.00 GiB"));
    QCOMPARE(panel.fieldText(QStringLiteral("Device")),
             QStringLiteral("NVIDIA H100 80GB HBM3 \u00B7 79.6 GiB"));
    QVERIFY(panel.fieldText(QStringLiteral("GPU memory")).isEmpty());  // no plan given
    f.vramWeights = 61'064'245'248;
    f.vramKvCache = 3'221'225'472;
    f.vramWorkspace = 1'073'741'824;
    panel.setFacts(f);
    QCOMPARE(panel.fieldText(QStringLiteral("GPU memory")),
             QStringLiteral("60.9 GiB: weights 56.9 GiB \u00B7 KV cache 3.00 GiB \u00B7 workspace 1.00 GiB"));
    f.vramWeights = f.vramKvCache = f.vramWorkspace = 0;

    f.gpuName.clear();
    f.backend = QStringLiteral("CPU");
    f.moeLayers = 47;
    f.sharedExperts = 1;
    panel.setFacts(f);
    QCOMPARE(panel.fieldText(QStringLiteral("Device")), QStringLiteral("CPU"));
    QVERIFY(panel.fieldText(QStringLiteral("GPU memory")).isEmpty());
    f.deviceNote = QStringLiteral("no GPU: no NVIDIA driver");
    panel.setFacts(f);
    QCOMPARE(panel.fieldText(QStringLiteral("Device")), QStringLiteral("CPU (no GPU: no NVIDIA driver)"));
    QCOMPARE(panel.fieldText(QStringLiteral("Layers")), QStringLiteral("48 (47 MoE)"));
    QCOMPARE(panel.fieldText(QStringLiteral("Experts")),
             QStringLiteral("128 routed, top-8 per token + 1 shared"));
    panel.clearFacts();
    QVERIFY(panel.fieldText(QStringLiteral("Device")).isEmpty());
  }

  // The three panels side by side in a PNG for a person to look at (MOE_SCREENSHOT_DIR, default a temporary
  // one).
  void screenshot() {
    QString dir = qEnvironmentVariable("MOE_SCREENSHOT_DIR");
    if (dir.isEmpty()) dir = QDir::temp().filePath(QStringLiteral("moe-screenshots"));
    QVERIFY(QDir().mkpath(dir));
    QWidget window;
    auto* row = new QHBoxLayout(&window);
    auto* sampling = new SamplingPanel(&window);
    sampling->setTemplates({QStringLiteral("chatml"), QStringLiteral("llama3"), QStringLiteral("mistral")});
    SamplingSettings s;
    s.systemPrompt = QStringLiteral("You are a helpful assistant who answers concisely.");
    sampling->setSettings(s);
    row->addWidget(sampling);
    auto* right = new QVBoxLayout;
    auto* model = new ModelPanel(&window);
    ModelFacts f;
    f.path = QStringLiteral("/models/Qwen3-30B-A3B");
    f.architecture = QStringLiteral("Qwen3MoeForCausalLM");
    f.layers = f.moeLayers = 48;
    f.experts = 128;
    f.topK = 8;
    f.totalParameters = 30'532'122'624;
    f.activeParameters = 3'340'000'000;
    f.weightBytes = 61'064'245'248;
    f.contextLength = 32768;
    f.kvCacheBytes = 3'221'225'472;
    f.backend = QStringLiteral("CUDA");
    f.gpuName = QStringLiteral("NVIDIA H100 80GB HBM3");
    f.gpuMemoryBytes = 85'520'809'984;
    model->setFacts(f);
    right->addWidget(model);
    auto* input = new ChatInput(&window);
    input->setText(QStringLiteral("Explain mixture-of-experts routing\nin two sentences."));
    input->setGenerating(false);
    right->addWidget(input);
    row->addLayout(right);
    window.resize(820, 560);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QTest::qWait(30);
    const QString path = QDir(dir).filePath(QStringLiteral("panels.png"));
    QVERIFY(window.grab().save(path));
    qInfo("screenshot: %s", qPrintable(path));
  }
};

QTEST_MAIN(TestPanels)
#include "test_panels.moc"
