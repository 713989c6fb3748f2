// ModelOpenDialog: what File ▸ Open Model Folder asks before loading a model folder — the context length
// (it sizes the KV cache; the memory it takes is shown as the length changes) and the device: Auto (the GPU
// when one is present, else the CPU), CPU or CUDA. The GPU probe's answer is shown under the choice, so a
// machine without a GPU says why Auto means the CPU there; CUDA with no GPU cannot be chosen.
#pragma once

#include <QDialog>

#include "moe/model_spec.h"

class QComboBox;
class QLabel;
class QSpinBox;

namespace moe::studio {

class ModelOpenDialog : public QDialog {
  Q_OBJECT

 public:
  // `device`: the current choice ("auto", "cpu" or "cuda").
  ModelOpenDialog(const QString& folder, const ModelSpec& spec, const QString& device,
                  QWidget* parent = nullptr);

  qint64 contextLength() const;
  QString device() const;  // "auto", "cpu" or "cuda"

  QSpinBox* contextBox() const { return context_; }
  QComboBox* deviceBox() const { return device_; }
  QLabel* memoryLabel() const { return memory_; }
  QLabel* gpuLabel() const { return gpu_; }

  // KV-cache bytes per position of `spec` on the CPU (float32 keys and values).
  static qint64 kvBytesPerPosition(const ModelSpec& spec);

 private:
  void updateMemory();

  ModelSpec spec_;
  QSpinBox* context_ = nullptr;
  QComboBox* device_ = nullptr;
  QLabel* memory_ = nullptr;
  QLabel* gpu_ = nullptr;
  bool has_gpu_ = false;
  qint64 gpu_memory_ = 0;
};

}  // namespace moe::studio
