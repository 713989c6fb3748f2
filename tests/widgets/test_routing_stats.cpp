// The routing data model: counts per scope (answer, session, selected token) and the prompt/generated filter,
// incremental counting equal to a recount, and the balance metrics and co-activation against values worked
// out by hand here (population standard deviation, entropy normalised by ln E).
#include <QtTest>
#include <cmath>

#include "widgets/balance_metrics.h"
#include "widgets/routing_data.h"
#include "widgets/routing_stats.h"

using namespace moe::widgets;

namespace {

// 2 layers, 4 experts, top-2. Each record: answer, prompt flag, layer 0's two experts, layer 1's two experts.
TokenRouting rec(int answer, bool prompt, int a0, int b0, int a1, int b1, qint64 pos = 0) {
  TokenRouting r;
  r.answer = answer;
  r.prompt = prompt;
  r.position = pos;
  r.piece = QStringLiteral("t%1").arg(pos);
  r.experts = {a0, b0, a1, b1};
  r.weights = {0.7f, 0.3f, 0.6f, 0.4f};
  return r;
}

std::vector<int64_t> row(RoutingStats& s, int layer) {
  std::vector<int64_t> out;
  for (int e = 0; e < 4; ++e)
    out.push_back(s.count(layer, e));
  return out;
}

}  // namespace

class RoutingStatsTest : public QObject {
  Q_OBJECT
  RoutingData data_;

  // Session: answer 0 = 2 prompt + 1 generated; answer 1 = 1 prompt + 2 generated.
  void fill() {
    data_.reset({2, 4, 2, {}});
    data_.append(rec(0, true, 0, 1, 2, 3, 0));
    data_.append(rec(0, true, 0, 2, 2, 3, 1));
    data_.append(rec(0, false, 1, 0, 3, 2, 2));
    data_.append(rec(1, true, 3, 0, 0, 1, 3));
    data_.append(rec(1, false, 0, 1, 0, 2, 4));
    data_.append(rec(1, false, 0, 3, 1, 2, 5));
  }

 private slots:
  void balance_by_hand() {
    // loads [3,1,0,0]: mean 1; population std sqrt((4 + 0 + 1 + 1) / 4) = sqrt(1.5).
    const std::vector<int64_t> loads = {3, 1, 0, 0};
    const BalanceMetrics m = BalanceMetrics::of(loads);
    QCOMPARE(m.total, int64_t(4));
    QVERIFY(std::fabs(m.cv - std::sqrt(1.5)) < 1e-12);
    QVERIFY(std::fabs(m.cv - 1.2247448713915890) < 1e-12);
    QVERIFY(std::fabs(m.maxVio - 2.0) < 1e-12);
    const double h = -(0.75 * std::log(0.75) + 0.25 * std::log(0.25));
    QVERIFY(std::fabs(m.normEntropy - h / std::log(4.0)) < 1e-12);
    QVERIFY(std::fabs(m.normEntropy - 0.40563906222956647) < 1e-12);

    // Perfect balance.
    const std::vector<int64_t> even = {5, 5, 5, 5};
    const BalanceMetrics b = BalanceMetrics::of(even);
    QCOMPARE(b.cv, 0.0);
    QCOMPARE(b.maxVio, 0.0);
    QVERIFY(std::fabs(b.normEntropy - 1.0) < 1e-12);

    // Everything on one of 8 experts: mean 1/8 of the total; std = sqrt(((8-1)^2 + 7 * 1^2) / 8) = sqrt(7)
    // for total 8, so CV = sqrt(7), MaxVio = 7, entropy 0.
    const std::vector<int64_t> one = {8, 0, 0, 0, 0, 0, 0, 0};
    const BalanceMetrics o = BalanceMetrics::of(one);
    QVERIFY(std::fabs(o.cv - std::sqrt(7.0)) < 1e-12);
    QVERIFY(std::fabs(o.maxVio - 7.0) < 1e-12);
    QCOMPARE(o.normEntropy, 0.0);

    // No load: undefined, NaN.
    const std::vector<int64_t> none = {0, 0, 0};
    const BalanceMetrics z = BalanceMetrics::of(none);
    QVERIFY(std::isnan(z.cv) && std::isnan(z.maxVio) && std::isnan(z.normEntropy));
  }

  void session_counts() {
    fill();
    RoutingStats s(data_, RoutingScope::session());
    QCOMPARE(s.tokens(), 6);
    // layer 0 experts over all six records: 0,1 | 0,2 | 1,0 | 3,0 | 0,1 | 0,3 -> e0 6, e1 3, e2 1, e3 2
    QCOMPARE(row(s, 0), (std::vector<int64_t>{6, 3, 1, 2}));
    // layer 1: 2,3 | 2,3 | 3,2 | 0,1 | 0,2 | 1,2 -> e0 2, e1 2, e2 5, e3 3
    QCOMPARE(row(s, 1), (std::vector<int64_t>{2, 2, 5, 3}));
    QCOMPARE(s.counts().size(), size_t(8));
  }

  void prompt_and_generated_filters() {
    fill();
    RoutingStats prompt(data_, RoutingScope::session(TokenFilter::Prompt));
    QCOMPARE(prompt.tokens(), 3);
    // prompt records: (0,1 | 2,3), (0,2 | 2,3), (3,0 | 0,1)
    QCOMPARE(row(prompt, 0), (std::vector<int64_t>{3, 1, 1, 1}));
    QCOMPARE(row(prompt, 1), (std::vector<int64_t>{1, 1, 2, 2}));
    RoutingStats gen(data_, RoutingScope::session(TokenFilter::Generated));
    QCOMPARE(gen.tokens(), 3);
    // generated: (1,0 | 3,2), (0,1 | 0,2), (0,3 | 1,2)
    QCOMPARE(row(gen, 0), (std::vector<int64_t>{3, 2, 0, 1}));
    QCOMPARE(row(gen, 1), (std::vector<int64_t>{1, 1, 3, 1}));
    // The filter combines with answer scope: answer 0's generated token only.
    RoutingStats a0gen(data_, RoutingScope::thisAnswer(0, TokenFilter::Generated));
    QCOMPARE(a0gen.tokens(), 1);
    QCOMPARE(row(a0gen, 0), (std::vector<int64_t>{1, 1, 0, 0}));
    QCOMPARE(row(a0gen, 1), (std::vector<int64_t>{0, 0, 1, 1}));
  }

  void answer_scope_follows_latest_answer() {
    fill();
    RoutingStats s(data_, RoutingScope::thisAnswer());
    QCOMPARE(s.tokens(), 3);
    // answer 1: (3,0 | 0,1), (0,1 | 0,2), (0,3 | 1,2)
    QCOMPARE(row(s, 0), (std::vector<int64_t>{3, 1, 0, 2}));
    // A new answer starts: "this answer" now means answer 2 alone.
    data_.append(rec(2, true, 2, 3, 3, 1, 6));
    QCOMPARE(s.tokens(), 1);
    QCOMPARE(row(s, 0), (std::vector<int64_t>{0, 0, 1, 1}));
    QCOMPARE(row(s, 1), (std::vector<int64_t>{0, 1, 0, 1}));
    // An explicit answer id stays put.
    RoutingStats first(data_, RoutingScope::thisAnswer(0));
    QCOMPARE(first.tokens(), 3);
    QCOMPARE(row(first, 0), (std::vector<int64_t>{3, 2, 1, 0}));
  }

  void selected_token_scope() {
    fill();
    RoutingStats s(data_, RoutingScope::selectedToken(4));
    QCOMPARE(s.tokens(), 1);
    QCOMPARE(row(s, 0), (std::vector<int64_t>{1, 1, 0, 0}));
    QCOMPARE(row(s, 1), (std::vector<int64_t>{1, 0, 1, 0}));
    // Selecting a token not yet generated: empty until it arrives.
    s.setScope(RoutingScope::selectedToken(6));
    QCOMPARE(s.tokens(), 0);
    QCOMPARE(row(s, 0), (std::vector<int64_t>{0, 0, 0, 0}));
    data_.append(rec(1, false, 3, 2, 1, 0, 6));
    QCOMPARE(s.tokens(), 1);
    QCOMPARE(row(s, 0), (std::vector<int64_t>{0, 0, 1, 1}));
  }

  void incremental_equals_recount() {
    data_.reset({3, 8, 2, {}});
    RoutingStats live(data_, RoutingScope::session(TokenFilter::Generated));
    uint32_t x = 12345;
    auto next = [&] { return (x = x * 1664525u + 1013904223u) >> 8; };
    for (int i = 0; i < 500; ++i) {
      TokenRouting r;
      r.answer = i / 100;
      r.prompt = next() % 3 == 0;
      for (int l = 0; l < 3; ++l) {
        const int a = int(next() % 8);
        r.experts.push_back(a);
        r.experts.push_back((a + 1 + int(next() % 7)) % 8);
        r.weights.push_back(0.6f);
        r.weights.push_back(0.4f);
      }
      data_.append(r);
      if (i % 37 == 0) live.counts();  // look now and then, as a throttled view does
      if (i % 53 == 0) live.coactivation(1);
    }
    RoutingStats fresh(data_, RoutingScope::session(TokenFilter::Generated));
    QCOMPARE(live.counts(), fresh.counts());
    QCOMPARE(live.tokens(), fresh.tokens());
    QCOMPARE(live.coactivation(1), fresh.coactivation(1));
    // A record of the wrong width is refused; out-of-range ids are kept as -1 and not counted.
    TokenRouting bad;
    bad.experts = {0, 1};
    bad.weights = {1, 0};
    QVERIFY(!data_.append(bad));
    const int before = fresh.tokens();
    const int64_t layer0 = BalanceMetrics::of(std::span(fresh.counts().data(), 8)).total;
    TokenRouting odd;  // generated, so in the Generated scope
    odd.experts = {99, 1, -1, 2, 3, 4};
    odd.weights = {1, 1, 1, 1, 1, 1};
    QVERIFY(data_.append(odd));
    QCOMPARE(data_.expert(data_.size() - 1, 0, 0), -1);
    QCOMPARE(data_.expert(data_.size() - 1, 1, 0), -1);
    QCOMPARE(fresh.tokens(), before + 1);
    QCOMPARE(BalanceMetrics::of(std::span(fresh.counts().data(), 8)).total, layer0 + 1);
  }

  void balance_over_scope() {
    fill();
    RoutingStats s(data_, RoutingScope::session());
    // layer 0 loads [6,3,1,2]: total 12, mean 3; deviations 3,0,-2,-1 -> var (9+0+4+1)/4 = 3.5
    const BalanceMetrics m = s.balance(0);
    QCOMPARE(m.total, int64_t(12));
    QVERIFY(std::fabs(m.cv - std::sqrt(3.5) / 3.0) < 1e-12);
    QVERIFY(std::fabs(m.maxVio - 1.0) < 1e-12);  // (6 - 3) / 3
    const double h = -(0.5 * std::log(0.5) + 0.25 * std::log(0.25) + (1.0 / 12) * std::log(1.0 / 12) +
                       (2.0 / 12) * std::log(2.0 / 12));
    QVERIFY(std::fabs(m.normEntropy - h / std::log(4.0)) < 1e-12);
    QCOMPARE(s.balance().size(), size_t(2));
  }

  void coactivation_by_hand() {
    fill();
    RoutingStats s(data_, RoutingScope::session());
    // layer 0 pairs: {0,1} {0,2} {1,0} {3,0} {0,1} {0,3}: 0-1 three times, 0-2 once, 0-3 twice.
    const auto& c = s.coactivation(0);
    const std::vector<int64_t> expected = {
        6, 3, 1, 2,  // expert 0: chosen by 6 tokens
        3, 3, 0, 0,  //
        1, 0, 1, 0,  //
        2, 0, 0, 2,  //
    };
    QCOMPARE(c, expected);
    // layer 1 over generated tokens only: {3,2} {0,2} {1,2}
    s.setScope(RoutingScope::session(TokenFilter::Generated));
    const std::vector<int64_t> gen1 = {
        1, 0, 1, 0,  //
        0, 1, 1, 0,  //
        1, 1, 3, 1,  //
        0, 0, 1, 1,  //
    };
    QCOMPARE(s.coactivation(1), gen1);
    // It keeps up with appends: another generated token choosing {0, 3} at layer 1.
    data_.append(rec(1, false, 1, 2, 0, 3, 6));
    const auto& after = s.coactivation(1);
    QCOMPARE(after[0 * 4 + 3], int64_t(1));
    QCOMPARE(after[3 * 4 + 0], int64_t(1));
    QCOMPARE(after[0 * 4 + 0], int64_t(2));
  }
};

QTEST_MAIN(RoutingStatsTest)
#include "test_routing_stats.moc"
