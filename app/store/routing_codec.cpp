// Routing-trace chunks: see routing_codec.h for the byte layout.
#include "store/routing_codec.h"

#include <QFloat16>
#include <cstring>

namespace moe::store::routing_codec {

namespace {

constexpr int kMaxEntriesPerPosition = 1 << 16;  // far beyond any model (DeepSeek-V3: 58 layers x top-8)

void putU16(char* out, quint16 v) {
  out[0] = char(v & 0xff);
  out[1] = char(v >> 8);
}

quint16 getU16(const char* in) {
  return quint16(quint8(in[0]) | (quint16(quint8(in[1])) << 8));
}

qsizetype recordBytes(int nMoeLayers, int topK) {
  return 1 + 4 * qsizetype(nMoeLayers) * topK;
}

}  // namespace

QByteArray encode(std::span<const RoutingRecordRow> records) {
  if (records.empty()) throw StoreError(QStringLiteral("a routing chunk needs at least one position"));
  const int L = records.front().nMoeLayers, K = records.front().topK;
  if (L <= 0 || K <= 0 || qint64(L) * K > kMaxEntriesPerPosition)
    throw StoreError(
        QStringLiteral("routing record with %1 MoE layers x top-%2 cannot be stored").arg(L).arg(K));
  const size_t width = size_t(L) * size_t(K);
  const qsizetype stride = recordBytes(L, K);
  QByteArray out(2 + stride * qsizetype(records.size()), Qt::Uninitialized);
  out[0] = char(kFormat);
  out[1] = char(kWeightsFloat16);
  char* p = out.data() + 2;
  const qint64 first = records.front().position;
  for (size_t i = 0; i < records.size(); ++i) {
    const RoutingRecordRow& r = records[i];
    if (r.nMoeLayers != L || r.topK != K)
      throw StoreError(QStringLiteral("routing records of one chunk differ in shape (%1x%2 and %3x%4)")
                           .arg(L)
                           .arg(K)
                           .arg(r.nMoeLayers)
                           .arg(r.topK));
    if (r.position != first + qint64(i))
      throw StoreError(QStringLiteral("routing records of one chunk must have consecutive positions "
                                      "(expected %1, got %2)")
                           .arg(first + qint64(i))
                           .arg(r.position));
    if (r.experts.size() != width || r.weights.size() != width)
      throw StoreError(QStringLiteral("routing record at position %1 has %2 experts and %3 weights, "
                                      "expected %4 of each")
                           .arg(r.position)
                           .arg(r.experts.size())
                           .arg(r.weights.size())
                           .arg(width));
    *p++ = char(r.prompt ? 1 : 0);
    for (size_t j = 0; j < width; ++j) {
      const int e = r.experts[j];
      if (e < 0 || e > 0xffff)
        throw StoreError(
            QStringLiteral("expert id %1 at position %2 does not fit the trace format (0..65535)")
                .arg(e)
                .arg(r.position));
      putU16(p + 2 * j, quint16(e));
    }
    p += 2 * width;
    for (size_t j = 0; j < width; ++j) {
      const qfloat16 h(r.weights[j]);
      quint16 bits;
      static_assert(sizeof(h) == sizeof(bits));
      std::memcpy(&bits, &h, sizeof(bits));
      putU16(p + 2 * j, bits);
    }
    p += 2 * width;
  }
  return out;
}

std::vector<RoutingRecordRow> decode(const QByteArray& data, qint64 firstPosition, int nPositions,
                                     int nMoeLayers, int topK) {
  const auto damaged = [&](const QString& why) {
    return StoreError(QStringLiteral("a routing trace chunk (positions from %1) is damaged: %2")
                          .arg(firstPosition)
                          .arg(why));
  };
  if (nPositions < 0 || nMoeLayers <= 0 || topK <= 0 || qint64(nMoeLayers) * topK > kMaxEntriesPerPosition)
    throw damaged(QStringLiteral("impossible shape %1 positions x %2 layers x top-%3")
                      .arg(nPositions)
                      .arg(nMoeLayers)
                      .arg(topK));
  if (data.size() < 2) throw damaged(QStringLiteral("no header"));
  if (quint8(data[0]) != kFormat)
    throw damaged(QStringLiteral("unknown format %1 (a newer MoE Studio wrote it?)").arg(quint8(data[0])));
  if (quint8(data[1]) != kWeightsFloat16)
    throw damaged(QStringLiteral("unknown weight encoding %1").arg(quint8(data[1])));
  const qsizetype stride = recordBytes(nMoeLayers, topK);
  if (data.size() != 2 + stride * nPositions)
    throw damaged(
        QStringLiteral("%1 bytes where %2 were expected").arg(data.size()).arg(2 + stride * nPositions));
  const size_t width = size_t(nMoeLayers) * size_t(topK);
  std::vector<RoutingRecordRow> out(static_cast<size_t>(nPositions));
  const char* p = data.constData() + 2;
  for (int i = 0; i < nPositions; ++i) {
    RoutingRecordRow& r = out[size_t(i)];
    r.position = firstPosition + i;
    r.nMoeLayers = nMoeLayers;
    r.topK = topK;
    const quint8 flags = quint8(*p++);
    if (flags & ~1u) throw damaged(QStringLiteral("unknown flags %1").arg(flags));
    r.prompt = flags & 1u;
    r.experts.resize(width);
    r.weights.resize(width);
    for (size_t j = 0; j < width; ++j)
      r.experts[j] = getU16(p + 2 * j);
    p += 2 * width;
    for (size_t j = 0; j < width; ++j) {
      const quint16 bits = getU16(p + 2 * j);
      qfloat16 h;
      std::memcpy(&h, &bits, sizeof(bits));
      r.weights[j] = float(h);
    }
    p += 2 * width;
  }
  return out;
}

}  // namespace moe::store::routing_codec
