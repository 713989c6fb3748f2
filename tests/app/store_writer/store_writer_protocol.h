// What store_writer writes, shared with test_store so the test can tell exactly what a killed writer
// intended.
#pragma once

#include <QString>

#include "store/store_types.h"

namespace store_writer {

constexpr int kPromptPositions = 48;  // routing records of the prompt, written before the first token
constexpr int kMoeLayers = 4;
constexpr int kTopK = 2;
constexpr int kExperts = 60;
constexpr int kTokenMs = 20;     // one token every ~20 ms
constexpr int kMaxPending = 16;  // a write at least every 16 tokens, besides the writer's time interval

// The i-th generated token's text.
inline QString token(int i) {
  return QStringLiteral("w%1 ").arg(i);
}

// The message text after n tokens.
inline QString textOf(int n) {
  QString s;
  for (int i = 0; i < n; ++i)
    s += token(i);
  return s;
}

inline moe::store::RoutingRecordRow record(qint64 position) {
  moe::store::RoutingRecordRow r;
  r.position = position;
  r.prompt = position < kPromptPositions;
  r.nMoeLayers = kMoeLayers;
  r.topK = kTopK;
  for (int l = 0; l < kMoeLayers; ++l)
    for (int k = 0; k < kTopK; ++k) {
      r.experts.push_back(int((position * 7 + l * 13 + k * 29) % kExperts));
      r.weights.push_back(float(0.25 + 0.5 / (1 + k) + 0.001 * double(position % 100)));
    }
  return r;
}

}  // namespace store_writer
