#include "widgets/sampling_panel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QJsonValue>
#include <QLabel>
#include <QPlainTextEdit>
#include <QSpinBox>
#include <QVBoxLayout>
#include <algorithm>
#include <climits>
#include <cmath>

namespace moe::widgets {
namespace {

// Ranges shared by the spin boxes and fromJson().
constexpr double kTemperatureMax = 5.0;
constexpr int kTopKMax = 1000;
constexpr double kRepetitionMin = 0.5, kRepetitionMax = 2.0;
constexpr int kMaxTokensMax = 131072;

double number(const QJsonObject& json, const char* key, double fallback, double lo, double hi) {
  const QJsonValue v = json.value(QLatin1String(key));
  const double x = v.isDouble() ? v.toDouble() : fallback;
  return std::isfinite(x) ? std::clamp(x, lo, hi) : fallback;
}

int integer(const QJsonObject& json, const char* key, int fallback, int lo, int hi) {
  const QJsonValue v = json.value(QLatin1String(key));
  if (!v.isDouble() || !std::isfinite(v.toDouble())) return fallback;
  return int(std::clamp(std::round(v.toDouble()), double(lo), double(hi)));
}

bool boolean(const QJsonObject& json, const char* key, bool fallback) {
  const QJsonValue v = json.value(QLatin1String(key));
  return v.isBool() ? v.toBool() : fallback;
}

QString string(const QJsonObject& json, const char* key) {
  const QJsonValue v = json.value(QLatin1String(key));
  return v.isString() ? v.toString() : QString();
}

QDoubleSpinBox* doubleBox(double lo, double hi, double step, int decimals, const QString& tip,
                          QWidget* parent) {
  auto* b = new QDoubleSpinBox(parent);
  b->setRange(lo, hi);
  b->setSingleStep(step);
  b->setDecimals(decimals);
  b->setToolTip(tip);
  return b;
}

QSpinBox* intBox(int lo, int hi, int step, const QString& tip, QWidget* parent) {
  auto* b = new QSpinBox(parent);
  b->setRange(lo, hi);
  b->setSingleStep(step);
  b->setToolTip(tip);
  return b;
}

}  // namespace

QJsonObject SamplingSettings::toJson() const {
  return QJsonObject{
      {QStringLiteral("temperature"), temperature},
      {QStringLiteral("top_k"), topK},
      {QStringLiteral("top_p"), topP},
      {QStringLiteral("min_p"), minP},
      {QStringLiteral("repetition_penalty"), repetitionPenalty},
      {QStringLiteral("max_tokens"), maxTokens},
      {QStringLiteral("seed"), seed},
      {QStringLiteral("random_seed"), randomSeed},
      {QStringLiteral("system_prompt"), systemPrompt},
      {QStringLiteral("template"), templateName},
      {QStringLiteral("raw_completion"), rawCompletion},
      {QStringLiteral("enable_thinking"), enableThinking},
  };
}

SamplingSettings SamplingSettings::fromJson(const QJsonObject& json) {
  SamplingSettings d, s;
  s.temperature = number(json, "temperature", d.temperature, 0.0, kTemperatureMax);
  s.topK = integer(json, "top_k", d.topK, 0, kTopKMax);
  s.topP = number(json, "top_p", d.topP, 0.0, 1.0);
  s.minP = number(json, "min_p", d.minP, 0.0, 1.0);
  s.repetitionPenalty =
      number(json, "repetition_penalty", d.repetitionPenalty, kRepetitionMin, kRepetitionMax);
  s.maxTokens = integer(json, "max_tokens", d.maxTokens, 1, kMaxTokensMax);
  s.seed = integer(json, "seed", d.seed, 0, INT_MAX);
  s.randomSeed = boolean(json, "random_seed", d.randomSeed);
  s.systemPrompt = string(json, "system_prompt");
  s.templateName = string(json, "template");
  s.rawCompletion = boolean(json, "raw_completion", d.rawCompletion);
  s.enableThinking = boolean(json, "enable_thinking", d.enableThinking);
  return s;
}

SamplingPanel::SamplingPanel(QWidget* parent) : QWidget(parent) {
  auto* v = new QVBoxLayout(this);
  v->setContentsMargins(0, 0, 0, 0);

  auto* sampling = new QGroupBox(tr("Sampling"), this);
  auto* form = new QFormLayout(sampling);
  form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  temperature_ = doubleBox(
      0.0, kTemperatureMax, 0.05, 2,
      tr("Higher is more varied, lower more predictable; 0 always takes the likeliest token"), sampling);
  temperature_->setSpecialValueText(tr("0 (greedy)"));
  topK_ = intBox(0, kTopKMax, 1, tr("Sample only among the K likeliest tokens (0: off)"), sampling);
  topK_->setSpecialValueText(tr("off"));
  topP_ = doubleBox(0.0, 1.0, 0.01, 2,
                    tr("Sample only among the likeliest tokens whose probabilities add up to P (1: off)"),
                    sampling);
  minP_ = doubleBox(
      0.0, 1.0, 0.01, 2,
      tr("Drop tokens less likely than this share of the likeliest token's probability (0: off)"), sampling);
  minP_->setSpecialValueText(tr("off"));
  repetition_ = doubleBox(kRepetitionMin, kRepetitionMax, 0.05, 2,
                          tr("Above 1 makes tokens already in the text less likely (1: off)"), sampling);
  maxTokens_ = intBox(1, kMaxTokensMax, 64, tr("The answer stops after this many tokens"), sampling);
  seed_ = intBox(0, INT_MAX, 1, tr("The same seed and settings give the same answer"), sampling);
  randomSeed_ = new QCheckBox(tr("random"), sampling);
  randomSeed_->setToolTip(tr("A new seed for every answer"));
  auto* seedRow = new QHBoxLayout;
  seedRow->addWidget(seed_, 1);
  seedRow->addWidget(randomSeed_);
  form->addRow(tr("Temperature"), temperature_);
  form->addRow(tr("Top-k"), topK_);
  form->addRow(tr("Top-p"), topP_);
  form->addRow(tr("Min-p"), minP_);
  form->addRow(tr("Repetition penalty"), repetition_);
  form->addRow(tr("Max tokens"), maxTokens_);
  form->addRow(tr("Seed"), seedRow);
  v->addWidget(sampling);

  auto* prompt = new QGroupBox(tr("Prompt"), this);
  auto* pf = new QFormLayout(prompt);
  pf->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  template_ = new QComboBox(prompt);
  template_->setToolTip(tr("The chat template that turns the conversation into the model's prompt"));
  template_->addItem(tr("Model's template"), QString());
  systemPrompt_ = new QPlainTextEdit(prompt);
  systemPrompt_->setPlaceholderText(tr("System prompt (optional)"));
  systemPrompt_->setTabChangesFocus(true);
  systemPrompt_->setFixedHeight(systemPrompt_->fontMetrics().lineSpacing() * 5 + 12);
  thinking_ = new QCheckBox(tr("Enable thinking"), prompt);
  thinking_->setToolTip(tr("Let models that reason before answering (Qwen3) do so (enable_thinking)"));
  raw_ = new QCheckBox(tr("Raw completion"), prompt);
  raw_->setToolTip(tr("Continue the text as it is, without a chat template or system prompt"));
  pf->addRow(tr("Template"), template_);
  pf->addRow(new QLabel(tr("System prompt"), prompt));
  pf->addRow(systemPrompt_);
  pf->addRow(thinking_);
  pf->addRow(raw_);
  v->addWidget(prompt);
  v->addStretch(1);

  setSettings(SamplingSettings());

  for (QDoubleSpinBox* b : {temperature_, topP_, minP_, repetition_})
    connect(b, &QDoubleSpinBox::valueChanged, this, &SamplingPanel::edited);
  for (QSpinBox* b : {topK_, maxTokens_, seed_})
    connect(b, &QSpinBox::valueChanged, this, &SamplingPanel::edited);
  for (QCheckBox* b : {randomSeed_, raw_, thinking_})
    connect(b, &QCheckBox::toggled, this, &SamplingPanel::edited);
  connect(template_, &QComboBox::currentIndexChanged, this, &SamplingPanel::edited);
  connect(systemPrompt_, &QPlainTextEdit::textChanged, this, &SamplingPanel::edited);
}

void SamplingPanel::edited() {
  updateEnabled();
  if (!updating_) emit changed();
}

void SamplingPanel::updateEnabled() {
  seed_->setEnabled(!randomSeed_->isChecked());
  const bool chat = !raw_->isChecked();
  template_->setEnabled(chat);
  systemPrompt_->setEnabled(chat);
  thinking_->setEnabled(chat);
}

void SamplingPanel::setSettings(const SamplingSettings& s) {
  updating_ = true;
  temperature_->setValue(s.temperature);
  topK_->setValue(s.topK);
  topP_->setValue(s.topP);
  minP_->setValue(s.minP);
  repetition_->setValue(s.repetitionPenalty);
  maxTokens_->setValue(s.maxTokens);
  seed_->setValue(s.seed);
  randomSeed_->setChecked(s.randomSeed);
  if (systemPrompt_->toPlainText() != s.systemPrompt) systemPrompt_->setPlainText(s.systemPrompt);
  selectTemplate(s.templateName);
  raw_->setChecked(s.rawCompletion);
  thinking_->setChecked(s.enableThinking);
  updateEnabled();
  updating_ = false;
}

SamplingSettings SamplingPanel::settings() const {
  SamplingSettings s;
  s.temperature = temperature_->value();
  s.topK = topK_->value();
  s.topP = topP_->value();
  s.minP = minP_->value();
  s.repetitionPenalty = repetition_->value();
  s.maxTokens = maxTokens_->value();
  s.seed = seed_->value();
  s.randomSeed = randomSeed_->isChecked();
  s.systemPrompt = systemPrompt_->toPlainText();
  s.templateName = template_->currentData().toString();
  s.rawCompletion = raw_->isChecked();
  s.enableThinking = thinking_->isChecked();
  return s;
}

void SamplingPanel::setTemplates(const QStringList& names) {
  const QString current = template_->currentData().toString();
  updating_ = true;
  while (template_->count() > 1)
    template_->removeItem(1);
  for (const QString& name : names)
    template_->addItem(name, name);
  selectTemplate(current);
  updating_ = false;
}

// A stored name the list does not offer (a template removed since) is kept as an entry rather than lost.
void SamplingPanel::selectTemplate(const QString& name) {
  int index = template_->findData(name);
  if (index < 0) {
    template_->addItem(name, name);
    index = template_->count() - 1;
  }
  template_->setCurrentIndex(index);
}

}  // namespace moe::widgets
