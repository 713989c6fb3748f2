#include "widgets/token_routing_table.h"

#include <QHeaderView>
#include <QLabel>
#include <QTableWidget>
#include <QVBoxLayout>
#include <algorithm>

#include "widgets/expert_palette.h"

namespace moe::widgets {

TokenRoutingTable::TokenRoutingTable(RoutingData* data, QWidget* parent)
    : QWidget(parent), data_(data), title_(new QLabel(this)), table_(new QTableWidget(this)) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->setSpacing(4);
  title_->setTextFormat(Qt::PlainText);
  title_->setWordWrap(true);
  layout->addWidget(title_);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->setSelectionMode(QAbstractItemView::NoSelection);
  table_->setFocusPolicy(Qt::NoFocus);
  table_->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
  table_->verticalHeader()->setDefaultSectionSize(table_->fontMetrics().height() + 6);
  // Columns as wide as their cells ("127 · 0.08"), never clipped; top-8 of a wide model scrolls sideways.
  table_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  table_->horizontalHeader()->setStretchLastSection(false);
  layout->addWidget(table_, 1);
  setMinimumWidth(200);

  // The table shows one record, so only that record's arrival matters; a reset forgets the selection.
  connect(data_, &RoutingData::appended, this, [this](int first, int count) {
    if (!filled_ && token_ >= first && token_ < first + count) fill();
  });
  connect(data_, &RoutingData::wasReset, this, [this] { setToken(-1); });
  fill();
}

void TokenRoutingTable::setToken(int index) {
  token_ = index;
  fill();
}

void TokenRoutingTable::fill() {
  const int L = data_->nLayers(), K = data_->topK(), E = data_->nExperts();
  filled_ = token_ >= 0 && token_ < data_->size();
  table_->clearContents();
  table_->setColumnCount(K);
  QStringList headers;
  for (int s = 0; s < K; ++s)
    headers << tr("#%1").arg(s + 1);
  table_->setHorizontalHeaderLabels(headers);
  if (!filled_) {
    table_->setRowCount(0);
    title_->setText(token_ < 0 ? tr("Click a token to see its routing.")
                               : tr("Token %1 has not been generated yet.").arg(token_));
    return;
  }
  QString piece = data_->piece(token_);
  piece.replace('\n', QChar(0x21b5));
  title_->setText(tr("Token %1 \u201c%2\u201d \u00b7 %3 \u00b7 answer %4 \u00b7 position %5")
                      .arg(token_)
                      .arg(piece)
                      .arg(data_->isPrompt(token_) ? tr("prompt") : tr("generated"))
                      .arg(data_->answer(token_))
                      .arg(data_->position(token_)) +
                  tr("\nEach cell: expert \u00b7 gate weight."));
  table_->setRowCount(L);
  QStringList rows;
  for (int l = 0; l < L; ++l) {
    rows << tr("layer %1").arg(data_->layerId(l));
    for (int s = 0; s < K; ++s) {
      const int e = data_->expert(token_, l, s);
      const float w = data_->weight(token_, l, s);
      auto* item =
          new QTableWidgetItem(e >= 0 ? tr("%1 \u00b7 %2").arg(e).arg(double(w), 0, 'f', 2) : tr("\u2014"));
      item->setData(Qt::UserRole, e);
      item->setData(Qt::UserRole + 1, double(w));
      item->setTextAlignment(Qt::AlignCenter);
      if (e >= 0) item->setToolTip(tr("expert %1, gate weight %2").arg(e).arg(double(w), 0, 'g', 6));
      if (e >= 0) {
        // Tint by weight (gate weights are at most ~1 for softmax routers; larger scaled ones saturate).
        QColor tint = expert_palette::color(e, E);
        tint.setAlphaF(0.25 + 0.6 * std::clamp(double(w), 0.0, 1.0));
        item->setBackground(tint);
        item->setForeground(tint.alphaF() > 0.6 ? expert_palette::textOn(tint) : palette().text().color());
      }
      table_->setItem(l, s, item);
    }
  }
  table_->setVerticalHeaderLabels(rows);
}

}  // namespace moe::widgets
