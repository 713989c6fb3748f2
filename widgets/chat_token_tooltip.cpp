#include "widgets/chat_token_tooltip.h"

#include <cmath>

namespace moe::widgets {

QString ChatTokenToolTip::percent(double logprob) {
  if (std::isnan(logprob)) return QStringLiteral("?");
  const double p = std::exp(logprob) * 100.0;
  if (p >= 99.95) return QStringLiteral("100 %");
  if (p >= 1.0) return QString::number(p, 'f', 1) + QStringLiteral(" %");
  if (p >= 0.001) return QString::number(p, 'g', 2) + QStringLiteral(" %");
  return QStringLiteral("< 0.001 %");
}

QString ChatTokenToolTip::visiblePiece(const QString& piece) {
  if (piece.isEmpty()) return QStringLiteral("\u2205");  // ∅
  QString out;
  out.reserve(piece.size());
  for (QChar c : piece) {
    if (c == u' ') {
      out += QChar(0x2423);
    } else if (c == u'\n') {
      out += QChar(0x21B5);
    } else if (c == u'\t') {
      out += QChar(0x2192);
    } else if (c == u'\r') {
      out += QStringLiteral("\\r");
    } else {
      out += c;
    }
  }
  return out;
}

QString ChatTokenToolTip::html(const ChatToken& token) {
  const QString mono = QStringLiteral("<span style=\"font-family:monospace\">%1</span>");
  QString s =
      QStringLiteral("<b>") + mono.arg(visiblePiece(token.piece).toHtmlEscaped()) + QStringLiteral("</b>");
  if (!std::isnan(token.logprob)) {
    s += QStringLiteral("&nbsp;&nbsp;%1 <span style=\"color:gray\">(logprob %2)</span>")
             .arg(percent(token.logprob).toHtmlEscaped(), QString::number(token.logprob, 'f', 3));
  }
  if (!token.alternatives.isEmpty()) {
    s += QStringLiteral("<table cellspacing=\"0\" cellpadding=\"1\" style=\"margin-top:4px\">");
    for (const TokenAlternative& alt : token.alternatives) {
      const bool chosen = alt.text == token.piece;
      const QString cell = mono.arg(visiblePiece(alt.text).toHtmlEscaped());
      s += QStringLiteral("<tr><td>%1</td><td align=\"right\">&nbsp;&nbsp;%2</td></tr>")
               .arg(chosen ? QStringLiteral("<b>") + cell + QStringLiteral("</b>") : cell,
                    percent(alt.logprob).toHtmlEscaped());
    }
    s += QStringLiteral("</table>");
  }
  return s;
}

}  // namespace moe::widgets
