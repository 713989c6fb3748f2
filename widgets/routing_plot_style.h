// Shared look of the routing plots (heatmap, balance, co-activation): integer axes for layers and experts
// whose tick step grows with the count (a 128-expert axis shows every 10th or 20th id, not a smear of
// labels), layer ticks labelled with the model's layer numbers, and fonts a little larger than QCustomPlot's
// defaults.
#pragma once

#include <qcustomplot.h>
#include <QSharedPointer>
#include <functional>

#include "widgets/routing_data.h"
#include "widgets/routing_scope.h"

namespace moe::widgets::routing_plot {

// Ticks on integers only (step 1 or a multiple); `label` maps an index to its tick text (default: the index).
QSharedPointer<QCPAxisTicker> integerTicker(std::function<QString(int)> label = {});
// Tick and label fonts of every axis of the plot's axis rects and colour scales, from the widget's font.
void applyFonts(QCustomPlot* plot);
// A bold title element in a new top row of the plot layout. The routing plots use two lines ("what" and then
// the scope), since half the dock's width, or a small export, does not hold both on one.
QCPTextElement* addTitle(QCustomPlot* plot, const QString& text);
// "this answer · 123 generated tokens", "session · 4,096 tokens", "token 17 “piece”": for titles.
QString scopeText(const RoutingScope& scope, const RoutingData& data, int tokens);
// The data range of a colour map dimension of n cells centred on 0..n-1. QCPColorMap pads the range by half a
// cell only when n > 1, so a single cell (a dense model's one expert) needs the range -0.5..0.5 to be drawn.
QCPRange cellRange(int n);
// The y-axis label text of a MoE layer index: the model's layer number.
QString layerLabel(const RoutingData& data, int layer);

}  // namespace moe::widgets::routing_plot
