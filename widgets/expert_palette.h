// Colours for routing views: a categorical colour per expert (token strip, routing table, legends) and the
// perceptual viridis gradient for count colour maps (QCustomPlot 2.1 has no viridis preset).
#pragma once

#include <qcustomplot.h>
#include <QColor>

namespace moe::widgets::expert_palette {

// A distinct colour for an expert: 20 hand-picked qualitative colours when there are at most 20 experts,
// otherwise hues spread by the golden angle with alternating lightness, so neighbours differ.
QColor color(int expert, int nExperts);
// Black or white, whichever reads better on `background`.
QColor textOn(const QColor& background);
// Viridis (matplotlib), sampled at nine stops: dark purple for 0, yellow for the maximum.
QCPColorGradient viridis();

}  // namespace moe::widgets::expert_palette
