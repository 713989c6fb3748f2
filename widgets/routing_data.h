// The routing records of one chat session, as the routing views consume them: per position the answer (turn)
// it belongs to, whether it is a prompt (prefill) or a generated token, its text piece, and for each of the
// nLayers MoE layers the topK chosen experts and their gate weights. Plain data: the studio converts the
// engine's routing records (or a stored trace) into TokenRouting values; nothing here knows where the numbers
// come from.
//
// Records are only ever appended (a live answer arrives token by token), so the store is a set of flat arrays
// and appending costs O(nLayers * topK). Aggregates over a scope live in RoutingStats, which catches up
// incrementally with what was appended since it last looked.
#pragma once

#include <QObject>
#include <QString>
#include <cstdint>
#include <span>
#include <vector>

namespace moe::widgets {

// One routed position. experts and weights are layer-major: layer l's choices are [l * topK, (l + 1) * topK).
// An expert id of -1 (or one outside [0, nExperts)) marks "no choice" (a dense layer) and is not counted.
struct TokenRouting {
  int answer = 0;       // the turn this position belongs to; answers are appended in increasing order
  qint64 position = 0;  // position in the conversation's token sequence
  bool prompt = false;  // a prompt (prefill) position rather than a generated token
  QString piece;        // the token's text
  std::vector<int32_t> experts;  // [nLayers * topK]
  std::vector<float> weights;    // [nLayers * topK], the gate weights of the same slots
};

// The model's routing shape. layerIds names each MoE layer by its index in the model (DeepSeek's first layers
// are dense, so MoE layer 0 may be model layer 1); left empty, MoE layer i is shown as "i".
struct RoutingShape {
  int nLayers = 0;
  int nExperts = 0;
  int topK = 0;
  std::vector<int> layerIds;
};

class RoutingData : public QObject {
  Q_OBJECT
 public:
  explicit RoutingData(QObject* parent = nullptr);

  // Starts a new session with this shape; every record is dropped. Emits wasReset().
  void reset(const RoutingShape& shape);
  // Drops every record, keeping the shape. Emits wasReset().
  void clear();

  // Appends one record (emits appended(first, 1)); false, and nothing appended, when its arrays do not have
  // nLayers * topK entries. Experts outside [0, nExperts) are stored as -1.
  bool append(const TokenRouting& record);
  // Appends a batch with one appended() signal: the way to feed a UI frame's worth of tokens. Returns how
  // many were accepted.
  int append(std::span<const TokenRouting> records);

  const RoutingShape& shape() const { return shape_; }
  int nLayers() const { return shape_.nLayers; }
  int nExperts() const { return shape_.nExperts; }
  int topK() const { return shape_.topK; }
  // The model's layer number of MoE layer `layer` (layerIds, or the index itself).
  int layerId(int layer) const;

  int size() const { return int(answers_.size()); }
  bool isEmpty() const { return answers_.empty(); }
  int answer(int index) const { return answers_[size_t(index)]; }
  qint64 position(int index) const { return positions_[size_t(index)]; }
  bool isPrompt(int index) const { return prompt_[size_t(index)] != 0; }
  const QString& piece(int index) const { return pieces_[size_t(index)]; }
  // The nLayers * topK choices of a record, layer-major.
  std::span<const int32_t> experts(int index) const;
  std::span<const float> weights(int index) const;
  int32_t expert(int index, int layer, int slot) const {
    return experts(index)[size_t(layer * topK() + slot)];
  }
  float weight(int index, int layer, int slot) const { return weights(index)[size_t(layer * topK() + slot)]; }
  // The expert with the largest gate weight at this layer (the first slot on ties), or -1 when none was
  // chosen.
  int topExpert(int index, int layer) const;
  // The answer id of the last record, -1 when there is none: what "this answer" means while one streams in.
  int lastAnswer() const { return answers_.empty() ? -1 : answers_.back(); }
  // Bumped by reset() and clear(), so aggregates can tell that what they counted is gone.
  quint64 generation() const { return generation_; }

 signals:
  void appended(int first, int count);
  void wasReset();

 private:
  bool store(const TokenRouting& record);

  RoutingShape shape_;
  quint64 generation_ = 0;
  std::vector<int> answers_;
  std::vector<qint64> positions_;
  std::vector<uint8_t> prompt_;
  std::vector<QString> pieces_;
  std::vector<int32_t> experts_;  // [size * nLayers * topK]
  std::vector<float> weights_;
};

}  // namespace moe::widgets
