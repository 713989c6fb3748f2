#include "widgets/model_panel.h"

#include <QFileInfo>
#include <QFormLayout>
#include <QLabel>
#include <QLocale>
#include <QVBoxLayout>
#include <cmath>

namespace moe::widgets {
namespace {

// Three significant digits, at most two decimals: 1.23, 12.3, 123.
QString threeDigits(double x) {
  const int decimals = x < 9.995 ? 2 : x < 99.95 ? 1 : 0;
  return QString::number(x, 'f', decimals);
}

}  // namespace

QString ModelPanel::formatCount(qint64 n) {
  static const struct {
    double scale;
    const char* suffix;
  } kUnits[] = {{1e12, "T"}, {1e9, "B"}, {1e6, "M"}, {1e3, "K"}};
  for (const auto& u : kUnits) {
    // Rounding up into the next unit ("999.9 M" shown as "1.00 B") is checked against the rounded value.
    if (double(n) >= u.scale * 0.9995) return threeDigits(double(n) / u.scale) + QLatin1Char(' ') + u.suffix;
  }
  return QString::number(n);
}

QString ModelPanel::formatBytes(qint64 bytes) {
  static const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return QString::number(bytes) + QStringLiteral(" B");
  double x = double(bytes);
  int unit = -1;
  while (x >= 1023.5 && unit < 3) {
    x /= 1024.0;
    ++unit;
  }
  return threeDigits(x) + QLatin1Char(' ') + kUnits[unit];
}

ModelPanel::ModelPanel(QWidget* parent) : QWidget(parent) {
  auto* v = new QVBoxLayout(this);
  v->setContentsMargins(0, 0, 0, 0);
  empty_ = new QLabel(tr("No model loaded"), this);
  empty_->setObjectName(QStringLiteral("emptyLabel"));
  empty_->setEnabled(false);
  v->addWidget(empty_);
  form_ = new QFormLayout;
  form_->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  form_->setLabelAlignment(Qt::AlignRight);
  form_->setRowWrapPolicy(QFormLayout::DontWrapRows);
  v->addLayout(form_);
  v->addStretch(1);
}

void ModelPanel::clearFacts() {
  while (form_->rowCount() > 0)
    form_->removeRow(0);
  empty_->show();
}

void ModelPanel::addRow(const QString& label, const QString& text, const QString& toolTip) {
  auto* value = new QLabel(text, this);
  value->setTextInteractionFlags(Qt::TextSelectableByMouse);
  value->setToolTip(toolTip);
  value->setWordWrap(true);
  value->setObjectName(label);
  form_->addRow(label + QLatin1Char(':'), value);
}

void ModelPanel::setFacts(const ModelFacts& f) {
  clearFacts();
  empty_->hide();
  const QLocale locale;
  const QString name = QFileInfo(f.path).fileName().isEmpty() ? f.path : QFileInfo(f.path).fileName();
  addRow(tr("Model"), name, f.path);
  addRow(tr("Architecture"), f.architecture);
  addRow(tr("Layers"), f.moeLayers > 0 && f.moeLayers != f.layers
                           ? tr("%1 (%2 MoE)").arg(f.layers).arg(f.moeLayers)
                       : f.moeLayers > 0 ? tr("%1 (all MoE)").arg(f.layers)
                                         : QString::number(f.layers));
  if (f.experts > 1) {
    QString experts = tr("%1 routed, top-%2 per token").arg(f.experts).arg(f.topK);
    if (f.sharedExperts > 0) experts += tr(" + %n shared", nullptr, f.sharedExperts);
    addRow(tr("Experts"), experts);
  } else {
    addRow(tr("Experts"), tr("dense (no routing)"));
  }
  addRow(tr("Parameters"),
         tr("%1 total \u00B7 %2 active").arg(formatCount(f.totalParameters), formatCount(f.activeParameters)),
         tr("%1 parameters, %2 used per token")
             .arg(locale.toString(f.totalParameters), locale.toString(f.activeParameters)));
  addRow(tr("Weights"), formatBytes(f.weightBytes), tr("%1 bytes").arg(locale.toString(f.weightBytes)));
  addRow(tr("Context"), tr("%1 tokens").arg(locale.toString(f.contextLength)));
  addRow(tr("KV cache"), formatBytes(f.kvCacheBytes), tr("%1 bytes").arg(locale.toString(f.kvCacheBytes)));
  addRow(tr("Backend"), f.backend.isEmpty() ? tr("CPU") : f.backend);
  if (f.gpuName.isEmpty()) {
    addRow(tr("Device"), f.deviceNote.isEmpty() ? tr("CPU") : tr("CPU (%1)").arg(f.deviceNote));
  } else {
    addRow(tr("Device"), f.gpuMemoryBytes > 0
                             ? tr("%1 \u00B7 %2").arg(f.gpuName, formatBytes(f.gpuMemoryBytes))
                             : f.gpuName);
  }
  if (const qint64 vram = f.vramWeights + f.vramKvCache + f.vramWorkspace; vram > 0) {
    addRow(tr("GPU memory"),
           tr("%1: weights %2 · KV cache %3 · workspace %4")
               .arg(formatBytes(vram), formatBytes(f.vramWeights), formatBytes(f.vramKvCache),
                    formatBytes(f.vramWorkspace)),
           tr("what the backend holds on the GPU, %1 bytes").arg(locale.toString(vram)));
  }
}

QString ModelPanel::fieldText(const QString& label) const {
  const auto* value = findChild<QLabel*>(label);
  return value ? value->text() : QString();
}

}  // namespace moe::widgets
