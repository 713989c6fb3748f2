// The compact form of a routing-trace chunk as stored in routing_traces.data (format 1).
//
//   byte 0      format, 1
//   byte 1      weight encoding, 1 = IEEE-754 binary16 (float16), little-endian
//   then n_positions records of (1 + 4 * n_moe_layers * top_k) bytes each, positions first_position,
//   first_position + 1, ... in order:
//     uint8       flags: bit 0 set for a prompt (prefill) position, other bits 0
//     uint16 LE   experts[n_moe_layers * top_k], layer-major (layer 0's top_k experts, then layer 1's, ...)
//     binary16 LE weights[n_moe_layers * top_k], in the same order
//
// n_positions, first_position, n_moe_layers and top_k are columns of the row, not repeated in the blob.
// Float16 keeps every gate weight (softmax, sigmoid, scaled by routed_scaling_factor) to a relative error of
// 2^-11; a Qwen3-30B-A3B token (48 layers x top-8) takes 1.5 KiB.
#pragma once

#include <QByteArray>
#include <span>
#include <vector>

#include "store/store_types.h"

namespace moe::store::routing_codec {

constexpr quint8 kFormat = 1;
constexpr quint8 kWeightsFloat16 = 1;

// Encodes records of consecutive positions sharing one (nMoeLayers, topK); throws StoreError otherwise.
QByteArray encode(std::span<const RoutingRecordRow> records);

// Decodes a chunk back into records; throws StoreError when the blob does not match its row's columns.
std::vector<RoutingRecordRow> decode(const QByteArray& data, qint64 firstPosition, int nPositions,
                                     int nMoeLayers, int topK);

}  // namespace moe::store::routing_codec
