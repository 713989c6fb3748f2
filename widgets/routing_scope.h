// Which routing records a view aggregates: this answer, the whole session, or the one selected token; answer
// and session combine with a filter that keeps prompt tokens, generated tokens or both.
#pragma once

#include "widgets/routing_data.h"

namespace moe::widgets {

enum class ScopeKind { Answer, Session, Token };
enum class TokenFilter { All, Prompt, Generated };

struct RoutingScope {
  static constexpr int kLatestAnswer = -1;

  ScopeKind kind = ScopeKind::Session;
  // For Answer: the answer id, or kLatestAnswer to follow the answer being generated (the last record's).
  int answer = kLatestAnswer;
  // For Token: the record index; the filter does not apply (a selected token is shown whatever it is).
  int token = -1;
  TokenFilter filter = TokenFilter::All;

  bool operator==(const RoutingScope&) const = default;

  static RoutingScope session(TokenFilter f = TokenFilter::All) {
    return {ScopeKind::Session, kLatestAnswer, -1, f};
  }
  static RoutingScope thisAnswer(int answer = kLatestAnswer, TokenFilter f = TokenFilter::All) {
    return {ScopeKind::Answer, answer, -1, f};
  }
  static RoutingScope selectedToken(int index) {
    return {ScopeKind::Token, kLatestAnswer, index, TokenFilter::All};
  }

  // The answer id Answer scope means now (kLatestAnswer resolved against the data).
  int resolvedAnswer(const RoutingData& data) const {
    return answer == kLatestAnswer ? data.lastAnswer() : answer;
  }

  // Whether record `index` belongs to the scope; resolvedAnswer is resolvedAnswer(data), passed in so a scan
  // over many records resolves it once.
  bool contains(const RoutingData& data, int index, int resolvedAnswer) const {
    if (kind == ScopeKind::Token) return index == token;
    if (kind == ScopeKind::Answer && data.answer(index) != resolvedAnswer) return false;
    if (filter == TokenFilter::Prompt) return data.isPrompt(index);
    if (filter == TokenFilter::Generated) return !data.isPrompt(index);
    return true;
  }
  bool contains(const RoutingData& data, int index) const {
    return contains(data, index, resolvedAnswer(data));
  }
};

}  // namespace moe::widgets
