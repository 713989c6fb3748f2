#include "widgets/routing_plot_style.h"

#include <QCoreApplication>

namespace moe::widgets::routing_plot {

namespace {
QString tr(const char* text) {
  return QCoreApplication::translate("RoutingPlot", text);
}
}  // namespace

namespace {

// QCPAxisTickerFixed with ssMultiples keeps ticks on integer multiples of 1 and picks how many; only the text
// of a tick changes here.
class IntegerTicker : public QCPAxisTickerFixed {
 public:
  explicit IntegerTicker(std::function<QString(int)> label) : label_(std::move(label)) {
    setTickStep(1.0);
    setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
    setTickCount(8);
  }

 protected:
  QString getTickLabel(double tick, const QLocale& locale, QChar format, int precision) override {
    const int i = int(std::lround(tick));
    return label_ ? label_(i) : QCPAxisTickerFixed::getTickLabel(double(i), locale, format, precision);
  }
  int getSubTickCount(double) override { return 0; }

 private:
  std::function<QString(int)> label_;
};

void styleAxis(QCPAxis* axis, const QFont& base) {
  QFont tick = base;
  QFont label = base;
  label.setPointSizeF(base.pointSizeF() + 1);
  axis->setTickLabelFont(tick);
  axis->setLabelFont(label);
}

}  // namespace

QSharedPointer<QCPAxisTicker> integerTicker(std::function<QString(int)> label) {
  return QSharedPointer<QCPAxisTicker>(new IntegerTicker(std::move(label)));
}

void applyFonts(QCustomPlot* plot) {
  const QFont base = plot->font();
  for (QCPAxisRect* rect : plot->axisRects())
    for (QCPAxis* axis : rect->axes())
      styleAxis(axis, base);
  for (int i = 0; i < plot->plotLayout()->elementCount(); ++i)
    if (auto* scale = qobject_cast<QCPColorScale*>(plot->plotLayout()->elementAt(i)))
      styleAxis(scale->axis(), base);
  plot->legend->setFont(base);
}

QCPTextElement* addTitle(QCustomPlot* plot, const QString& text) {
  plot->plotLayout()->insertRow(0);
  QFont f = plot->font();
  f.setPointSizeF(f.pointSizeF() + 1);
  f.setBold(true);
  auto* title = new QCPTextElement(plot, text, f);
  plot->plotLayout()->addElement(0, 0, title);
  return title;
}

QString scopeText(const RoutingScope& scope, const RoutingData& data, int tokens) {
  if (scope.kind == ScopeKind::Token) {
    if (scope.token < 0 || scope.token >= data.size()) return tr("no token selected");
    QString piece = data.piece(scope.token);
    piece.replace('\n', QStringLiteral("\u21b5"));
    return tr("token %1 \u201c%2\u201d").arg(scope.token).arg(piece.left(24));
  }
  const QString where = scope.kind == ScopeKind::Session              ? tr("session")
                        : scope.answer == RoutingScope::kLatestAnswer ? tr("this answer")
                                                                      : tr("answer %1").arg(scope.answer);
  const QString count = QLocale().toString(tokens);
  const bool one = tokens == 1;
  const QString which = scope.filter == TokenFilter::Prompt
                            ? (one ? tr("1 prompt token") : tr("%1 prompt tokens").arg(count))
                        : scope.filter == TokenFilter::Generated
                            ? (one ? tr("1 generated token") : tr("%1 generated tokens").arg(count))
                            : (one ? tr("1 token") : tr("%1 tokens").arg(count));
  return QStringLiteral("%1 \u00b7 %2").arg(where, which);
}

QCPRange cellRange(int n) {
  return n > 1 ? QCPRange(0, n - 1) : QCPRange(-0.5, 0.5);
}

QString layerLabel(const RoutingData& data, int layer) {
  return layer >= 0 && layer < data.nLayers() ? QString::number(data.layerId(layer)) : QString();
}

}  // namespace moe::widgets::routing_plot
