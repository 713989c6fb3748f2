// ModelOpenDialog (see model_open_dialog.h).
#include "studio/model_open_dialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFileInfo>
#include <QFormLayout>
#include <QLabel>
#include <QLocale>
#include <QSpinBox>
#include <QStandardItemModel>
#include <algorithm>

#include "moe/backend.h"
#include "moe/device.h"

namespace moe::studio {
namespace {

QString human_bytes(qint64 bytes) {
  return QLocale().formattedDataSize(bytes, 1, QLocale::DataSizeIecFormat);
}

}  // namespace

qint64 ModelOpenDialog::kvBytesPerPosition(const ModelSpec& spec) {
  const int64_t width = spec.attention == AttentionKind::MLA
                            ? spec.kv_lora_rank + spec.qk_rope_head_dim
                            : spec.num_kv_heads * (spec.head_dim + spec.v_head_dim);
  return spec.num_layers * width * 4;
}

ModelOpenDialog::ModelOpenDialog(const QString& folder, const ModelSpec& spec, const QString& device,
                                 QWidget* parent)
    : QDialog(parent), spec_(spec) {
  setWindowTitle(tr("Open %1").arg(QFileInfo(folder).fileName()));
  setMinimumWidth(520);  // the GPU line and the memory plan read on one or two lines
  auto* form = new QFormLayout(this);

  context_ = new QSpinBox;
  const int max_context =
      int(std::min<int64_t>(std::max<int64_t>(spec.max_position_embeddings, 256), 1 << 20));
  context_->setRange(std::min(256, max_context), max_context);
  context_->setSingleStep(256);
  context_->setValue(int(std::min<int64_t>(max_context, 4096)));
  context_->setSuffix(tr(" tokens"));
  form->addRow(tr("Context length:"), context_);
  memory_ = new QLabel;
  memory_->setWordWrap(true);
  form->addRow(QString(), memory_);

  const GpuProbe probe = probe_gpus();
  has_gpu_ = !probe.gpus.empty();
  device_ = new QComboBox;
  device_->addItem(tr("Auto (the GPU when there is one)"), QStringLiteral("auto"));
  device_->addItem(tr("CPU"), QStringLiteral("cpu"));
  device_->addItem(tr("CUDA GPU"), QStringLiteral("cuda"));
  if (!has_gpu_) {  // nothing to run CUDA on: shown, but not selectable
    if (auto* m = qobject_cast<QStandardItemModel*>(device_->model())) m->item(2)->setEnabled(false);
  }
  const int at = device_->findData(device == "cuda" && !has_gpu_ ? QStringLiteral("auto") : device);
  device_->setCurrentIndex(std::max(at, 0));
  form->addRow(tr("Device:"), device_);
  gpu_ = new QLabel;
  gpu_->setWordWrap(true);
  if (has_gpu_) {
    const GpuInfo& g = probe.gpus[0];
    gpu_memory_ = qint64(g.total_memory);
    gpu_->setText(tr("GPU %1: %2, %3, compute capability %4.%5")
                      .arg(g.index)
                      .arg(QString::fromStdString(g.name), human_bytes(gpu_memory_))
                      .arg(g.compute_major)
                      .arg(g.compute_minor));
  } else {
    gpu_->setText(tr("No GPU (%1): Auto runs on the CPU.").arg(QString::fromStdString(probe.why_none)));
  }
  form->addRow(QString(), gpu_);

  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Open | QDialogButtonBox::Cancel);
  connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  form->addRow(buttons);

  connect(context_, &QSpinBox::valueChanged, this, &ModelOpenDialog::updateMemory);
  connect(device_, &QComboBox::currentIndexChanged, this, &ModelOpenDialog::updateMemory);
  updateMemory();
}

qint64 ModelOpenDialog::contextLength() const {
  return context_->value();
}

QString ModelOpenDialog::device() const {
  return device_->currentData().toString();
}

void ModelOpenDialog::updateMemory() {
  const QString d = device();
  if (d == "cuda" || (d == "auto" && has_gpu_)) {
    const MemoryPlan plan = cuda_memory_plan(spec_, contextLength());
    QString text = tr("On the GPU: %1 (weights %2, KV cache %3, workspace %4)")
                       .arg(human_bytes(qint64(plan.total())), human_bytes(qint64(plan.weights)),
                            human_bytes(qint64(plan.kv_cache)), human_bytes(qint64(plan.workspace)));
    if (gpu_memory_ > 0 && qint64(plan.total()) > gpu_memory_)
      text += tr(" \u2014 more than the GPU's %1").arg(human_bytes(gpu_memory_));
    memory_->setText(text);
  } else {
    memory_->setText(tr("KV cache in RAM: %1 (%2 per 1,024 tokens)")
                         .arg(human_bytes(kvBytesPerPosition(spec_) * contextLength()),
                              human_bytes(kvBytesPerPosition(spec_) * 1024)));
  }
}

}  // namespace moe::studio
