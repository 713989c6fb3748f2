// Generation settings of a session: sampling (temperature, top-k, top-p, min-p, repetition penalty, max
// tokens, seed), the system prompt, the chat template (the model's own or a named built-in), raw-completion
// mode and the Qwen3 enable_thinking switch. SamplingSettings is the plain value the session stores (as
// JSON).
#pragma once

#include <QJsonObject>
#include <QString>
#include <QStringList>
#include <QWidget>

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QPlainTextEdit;
class QSpinBox;

namespace moe::widgets {

struct SamplingSettings {
  double temperature = 0.8;        // 0: greedy
  int topK = 40;                   // 0: off
  double topP = 0.95;              // 1: off
  double minP = 0.05;              // 0: off
  double repetitionPenalty = 1.0;  // 1: off
  int maxTokens = 512;
  bool randomSeed = true;  // a fresh seed per answer; `seed` is then only remembered
  int seed = 0;
  QString systemPrompt;
  QString templateName;  // empty: the model's own chat template
  bool rawCompletion = false;
  bool enableThinking = true;

  // Keys: temperature, top_k, top_p, min_p, repetition_penalty, max_tokens, seed, random_seed, system_prompt,
  // template, raw_completion, enable_thinking.
  QJsonObject toJson() const;
  // Missing or mistyped keys keep their defaults; numbers are clamped to the panel's ranges.
  static SamplingSettings fromJson(const QJsonObject& json);
  bool operator==(const SamplingSettings&) const = default;
};

class SamplingPanel : public QWidget {
  Q_OBJECT

 public:
  explicit SamplingPanel(QWidget* parent = nullptr);

  // Does not emit changed(): only the user's edits do.
  void setSettings(const SamplingSettings& settings);
  SamplingSettings settings() const;
  // Named built-in templates offered after "Model's template".
  void setTemplates(const QStringList& names);

  QDoubleSpinBox* temperatureBox() const { return temperature_; }
  QSpinBox* topKBox() const { return topK_; }
  QDoubleSpinBox* topPBox() const { return topP_; }
  QDoubleSpinBox* minPBox() const { return minP_; }
  QDoubleSpinBox* repetitionPenaltyBox() const { return repetition_; }
  QSpinBox* maxTokensBox() const { return maxTokens_; }
  QSpinBox* seedBox() const { return seed_; }
  QCheckBox* randomSeedBox() const { return randomSeed_; }
  QPlainTextEdit* systemPromptEdit() const { return systemPrompt_; }
  QComboBox* templateBox() const { return template_; }
  QCheckBox* rawCompletionBox() const { return raw_; }
  QCheckBox* enableThinkingBox() const { return thinking_; }

 signals:
  void changed();

 private:
  void edited();
  void updateEnabled();
  void selectTemplate(const QString& name);

  QDoubleSpinBox* temperature_ = nullptr;
  QSpinBox* topK_ = nullptr;
  QDoubleSpinBox* topP_ = nullptr;
  QDoubleSpinBox* minP_ = nullptr;
  QDoubleSpinBox* repetition_ = nullptr;
  QSpinBox* maxTokens_ = nullptr;
  QSpinBox* seed_ = nullptr;
  QCheckBox* randomSeed_ = nullptr;
  QPlainTextEdit* systemPrompt_ = nullptr;
  QComboBox* template_ = nullptr;
  QCheckBox* raw_ = nullptr;
  QCheckBox* thinking_ = nullptr;
  bool updating_ = false;
};

}  // namespace moe::widgets
