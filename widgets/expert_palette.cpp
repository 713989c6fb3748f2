#include "widgets/expert_palette.h"

#include <array>
#include <cmath>

namespace moe::widgets::expert_palette {

QColor color(int expert, int nExperts) {
  if (expert < 0) return QColor(0xbd, 0xbd, 0xbd);
  // Tableau 10, then lighter companions of the same ten: adjacent ids never share a hue family.
  static constexpr std::array<QRgb, 20> kQualitative = {
      0x4e79a7, 0xf28e2b, 0xe15759, 0x76b7b2, 0x59a14f, 0xedc948, 0xb07aa1, 0xff9da7, 0x9c755f, 0xbab0ac,
      0xa0cbe8, 0xffbe7d, 0x8cd17d, 0xb6992d, 0xf1ce63, 0x499894, 0x86bcb6, 0xd37295, 0xfabfd2, 0xd4a6c8};
  if (nExperts <= int(kQualitative.size())) return QColor::fromRgb(kQualitative[size_t(expert) % 20]);
  const double hue = std::fmod(expert * 137.50776405, 360.0);
  const int band = expert % 3;  // three lightness bands so that hues that come close still differ
  return QColor::fromHsl(int(hue), 150 + 40 * (band == 1), 115 + 40 * band);
}

QColor textOn(const QColor& background) {
  // Relative luminance (sRGB weights, without linearisation: good enough to pick black or white).
  const double y = 0.2126 * background.redF() + 0.7152 * background.greenF() + 0.0722 * background.blueF();
  return y > 0.55 ? QColor(Qt::black) : QColor(Qt::white);
}

QCPColorGradient viridis() {
  QCPColorGradient g;
  g.clearColorStops();
  static constexpr std::array<QRgb, 9> kStops = {0x440154, 0x472d7b, 0x3b528b, 0x2c728e, 0x21918c,
                                                 0x28ae80, 0x5ec962, 0xaddc30, 0xfde725};
  for (size_t i = 0; i < kStops.size(); ++i)
    g.setColorStopAt(double(i) / (kStops.size() - 1), QColor(kStops[i]));
  g.setColorInterpolation(QCPColorGradient::ciRGB);
  g.setLevelCount(256);
  return g;
}

}  // namespace moe::widgets::expert_palette
