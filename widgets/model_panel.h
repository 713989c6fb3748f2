// Facts about the loaded model in a tidy form: what it is (architecture, layers, experts, parameters) and
// what it costs (weights, KV cache at the chosen context length) on which backend and device.
#pragma once

#include <QString>
#include <QWidget>

class QFormLayout;
class QLabel;

namespace moe::widgets {

struct ModelFacts {
  QString path;
  QString architecture;  // "Qwen3MoeForCausalLM"
  int layers = 0;
  int moeLayers = 0;
  int experts = 0;  // routed experts per MoE layer
  int sharedExperts = 0;
  int topK = 0;  // experts chosen per token
  qint64 totalParameters = 0;
  qint64 activeParameters = 0;  // per token
  qint64 weightBytes = 0;
  qint64 contextLength = 0;  // the length chosen at load (it sizes the KV cache)
  qint64 kvCacheBytes = 0;
  QString backend;            // "CUDA", "CPU"
  QString gpuName;            // empty: running on the CPU
  qint64 gpuMemoryBytes = 0;  // total memory of the GPU; 0: unknown
  QString deviceNote;         // on the CPU: why ("no GPU: no NVIDIA driver", "the CPU was chosen")
  // Device memory the backend holds (its plan); all 0 on the CPU.
  qint64 vramWeights = 0, vramKvCache = 0, vramWorkspace = 0;
};

class ModelPanel : public QWidget {
  Q_OBJECT

 public:
  explicit ModelPanel(QWidget* parent = nullptr);

  void setFacts(const ModelFacts& facts);
  // Back to "No model loaded".
  void clearFacts();

  // The text shown for a field (the form's label without its colon, e.g. "Parameters"); empty if none.
  QString fieldText(const QString& label) const;

  // 30 532 122 624 -> "30.5 B", 3 340 000 000 -> "3.34 B", 137 000 000 -> "137 M", 4 200 -> "4.20 K".
  static QString formatCount(qint64 n);
  // Binary units: 4 831 838 208 -> "4.50 GiB", 536 870 912 -> "512 MiB", 999 -> "999 B".
  static QString formatBytes(qint64 bytes);

 private:
  void addRow(const QString& label, const QString& text, const QString& toolTip = {});

  QFormLayout* form_ = nullptr;
  QLabel* empty_ = nullptr;
};

}  // namespace moe::widgets
