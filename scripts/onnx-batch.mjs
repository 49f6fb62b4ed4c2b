// Derives a batch-N BlazeFace model from a pinned batch-1 one, so that the
// detections of several streams can share one inference call.
//
// The Barracuda exports fix the batch at 1 in three places, and this rewrite
// changes exactly those:
//   1. graph inputs and outputs declare dimension 0 as 1: it becomes "N";
//   2. channel padding is Concat(x, ConstantOfShape([1, C, H, W]) of zeros)
//      along axis 1: it becomes Pad(x, [0,0,0,0, 0,C,0,0]), the same zeros
//      for any batch;
//   3. the output Reshapes target [1, K, D]: they become [-1, K, D].
// The recorded intermediate shapes (value_info, all with batch 1) are dropped,
// so onnxruntime infers them again. Weights and every other node are copied
// byte for byte, and the output is deterministic: its sha256 is pinned in
// models/manifest.json next to its source's.
//
// ONNX files are protobuf. Only the wire format is needed here (varints and
// length-delimited fields), so this has no protobuf dependency; field numbers
// are those of onnx.proto.

const WT_VARINT = 0;
const WT_I64 = 1;
const WT_LEN = 2;
const WT_I32 = 5;

function readVarint(buf, pos) {
  let value = 0n;
  let shift = 0n;
  for (;;) {
    if (pos >= buf.length) {
      throw new Error('truncated varint');
    }
    const b = buf[pos++];
    value |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) {
      return [value, pos];
    }
    shift += 7n;
  }
}

function writeVarint(out, value) {
  let v = BigInt.asUintN(64, BigInt(value));
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) {
      b |= 0x80;
    }
    out.push(b);
  } while (v !== 0n);
}

/** A message as its fields, in order: {no, wt, value} (bigint for varints, bytes otherwise). */
function parse(buf) {
  const fields = [];
  let pos = 0;
  while (pos < buf.length) {
    let key;
    [key, pos] = readVarint(buf, pos);
    const no = Number(key >> 3n);
    const wt = Number(key & 7n);
    if (wt === WT_VARINT) {
      let v;
      [v, pos] = readVarint(buf, pos);
      fields.push({ no, wt, value: v });
    } else if (wt === WT_LEN) {
      let len;
      [len, pos] = readVarint(buf, pos);
      const end = pos + Number(len);
      if (end > buf.length) {
        throw new Error('truncated field');
      }
      fields.push({ no, wt, value: buf.subarray(pos, end) });
      pos = end;
    } else if (wt === WT_I64 || wt === WT_I32) {
      const end = pos + (wt === WT_I64 ? 8 : 4);
      if (end > buf.length) {
        throw new Error('truncated field');
      }
      fields.push({ no, wt, value: buf.subarray(pos, end) });
      pos = end;
    } else {
      throw new Error(`unsupported protobuf wire type ${wt}`);
    }
  }
  return fields;
}

function serialize(fields) {
  const parts = [];
  let head = [];
  const flush = () => {
    if (head.length > 0) {
      parts.push(Uint8Array.from(head));
      head = [];
    }
  };
  for (const f of fields) {
    writeVarint(head, (BigInt(f.no) << 3n) | BigInt(f.wt));
    if (f.wt === WT_VARINT) {
      writeVarint(head, f.value);
    } else if (f.wt === WT_LEN) {
      writeVarint(head, f.value.length);
      flush();
      parts.push(f.value);
    } else {
      flush();
      parts.push(f.value);
    }
  }
  flush();
  return Buffer.concat(parts);
}

const text = (s) => new TextEncoder().encode(s);
const str = (bytes) => new TextDecoder().decode(bytes);
const strings = (fields, no) => fields.filter((f) => f.no === no).map((f) => str(f.value));
const one = (fields, no) => fields.find((f) => f.no === no);

// onnx.proto field numbers
const MODEL = { graph: 7 };
const GRAPH = { node: 1, initializer: 5, input: 11, output: 12, valueInfo: 13 };
const NODE = { input: 1, output: 2, name: 3, opType: 4, attribute: 5 };
const ATTR = { name: 1, i: 3, t: 5 };
const TENSOR = { dims: 1, dataType: 2, floatData: 4, int64Data: 7, name: 8, rawData: 9 };
const VALUE_INFO = { type: 2 };
const TYPE = { tensor: 1 };
const TENSOR_TYPE = { shape: 2 };
const SHAPE = { dim: 1 };
const DIM = { value: 1, param: 2 };
const INT64 = 7;

function int64s(tensor) {
  const raw = one(tensor, TENSOR.rawData);
  if (raw) {
    const view = new DataView(raw.value.buffer, raw.value.byteOffset, raw.value.byteLength);
    return Array.from({ length: raw.value.byteLength / 8 }, (_, i) => view.getBigInt64(i * 8, true));
  }
  const values = [];
  for (const f of tensor.filter((x) => x.no === TENSOR.int64Data)) {
    if (f.wt === WT_VARINT) {
      values.push(BigInt.asIntN(64, f.value));
    } else {
      let pos = 0;
      while (pos < f.value.length) {
        let v;
        [v, pos] = readVarint(f.value, pos);
        values.push(BigInt.asIntN(64, v));
      }
    }
  }
  return values;
}

function int64Tensor(name, values) {
  const raw = new Uint8Array(values.length * 8);
  const view = new DataView(raw.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
  const dims = [];
  writeVarint(dims, values.length);
  return serialize([
    { no: TENSOR.dims, wt: WT_LEN, value: Uint8Array.from(dims) },
    { no: TENSOR.dataType, wt: WT_VARINT, value: BigInt(INT64) },
    { no: TENSOR.name, wt: WT_LEN, value: text(name) },
    { no: TENSOR.rawData, wt: WT_LEN, value: raw },
  ]);
}

/** True when a ConstantOfShape's `value` is zero (or absent, which means zero). */
function fillsZeros(node) {
  const attr = node.filter((f) => f.no === NODE.attribute).map((f) => parse(f.value)).find((a) => str(one(a, ATTR.name).value) === 'value');
  if (!attr) {
    return true;
  }
  const t = parse(one(attr, ATTR.t).value);
  const raw = one(t, TENSOR.rawData)?.value ?? new Uint8Array(0);
  const floats = t.filter((f) => f.no === TENSOR.floatData).map((f) => f.value);
  return [raw, ...floats].every((bytes) => bytes.every((b) => b === 0));
}

/** Sets dimension 0 of a graph input or output to the symbolic "N". */
function batchDim(valueInfo) {
  const vi = parse(valueInfo);
  const type = parse(one(vi, VALUE_INFO.type).value);
  const tensorType = parse(one(type, TYPE.tensor).value);
  const shape = parse(one(tensorType, TENSOR_TYPE.shape).value);
  const dims = shape.filter((f) => f.no === SHAPE.dim);
  const first = parse(dims[0].value);
  if (one(first, DIM.value)?.value !== 1n) {
    throw new Error('expected a batch dimension of 1');
  }
  dims[0].value = serialize([{ no: DIM.param, wt: WT_LEN, value: text('N') }]);
  one(tensorType, TENSOR_TYPE.shape).value = serialize(shape);
  one(type, TYPE.tensor).value = serialize(tensorType);
  one(vi, VALUE_INFO.type).value = serialize(type);
  return serialize(vi);
}

/**
 * The batch-N rewrite of a batch-1 BlazeFace ONNX model (see the top of this
 * file). Throws when the graph is not shaped as expected, rather than write a
 * model that would be wrong.
 */
export function batchedModel(bytes) {
  const model = parse(bytes);
  const graphField = one(model, MODEL.graph);
  const graph = parse(graphField.value);

  const inits = new Map();
  for (const f of graph.filter((x) => x.no === GRAPH.initializer)) {
    const t = parse(f.value);
    inits.set(str(one(t, TENSOR.name).value), { field: f, tensor: t });
  }
  const nodes = graph.filter((f) => f.no === GRAPH.node).map((f) => ({ field: f, node: parse(f.value) }));
  const consumers = new Map();
  for (const { node } of nodes) {
    for (const name of strings(node, NODE.input)) {
      consumers.set(name, (consumers.get(name) ?? 0) + 1);
    }
  }

  const zeros = new Map(); // ConstantOfShape output -> channels it adds
  const dropNodes = new Set();
  const dropInits = new Set();
  const padInits = new Map(); // channels -> initializer name
  let pads = 0;
  let reshapes = 0;

  for (const n of nodes) {
    const op = str(one(n.node, NODE.opType).value);
    if (op !== 'ConstantOfShape') {
      continue;
    }
    const [shapeName] = strings(n.node, NODE.input);
    const shape = int64s(inits.get(shapeName)?.tensor ?? []);
    if (shape.length !== 4 || shape[0] !== 1n || !fillsZeros(n.node)) {
      throw new Error(`ConstantOfShape ${shapeName}: expected zeros of shape [1, C, H, W]`);
    }
    zeros.set(strings(n.node, NODE.output)[0], shape[1]);
    dropNodes.add(n.field);
    dropInits.add(shapeName);
  }

  for (const n of nodes) {
    const op = str(one(n.node, NODE.opType).value);
    const inputs = strings(n.node, NODE.input);
    if (op === 'Concat') {
      const attrs = n.node.filter((f) => f.no === NODE.attribute).map((f) => parse(f.value));
      const axis = attrs.find((a) => str(one(a, ATTR.name).value) === 'axis');
      if (inputs.length !== 2 || !zeros.has(inputs[1])) {
        if (inputs.some((i) => zeros.has(i))) {
          throw new Error(`Concat ${inputs.join(', ')}: zeros in an unexpected place`);
        }
        continue;
      }
      if (!axis || BigInt.asIntN(64, one(axis, ATTR.i).value) !== 1n) {
        throw new Error('channel padding Concat is not on axis 1');
      }
      const channels = zeros.get(inputs[1]);
      let padName = padInits.get(channels);
      if (!padName) {
        padName = `livemask/pads_channels_${channels}`;
        padInits.set(channels, padName);
      }
      n.node = [
        { no: NODE.input, wt: WT_LEN, value: text(inputs[0]) },
        { no: NODE.input, wt: WT_LEN, value: text(padName) },
        ...n.node.filter((f) => f.no === NODE.output || f.no === NODE.name),
        { no: NODE.opType, wt: WT_LEN, value: text('Pad') },
      ];
      n.field.value = serialize(n.node);
      pads += 1;
    } else if (op === 'Reshape') {
      const init = inits.get(inputs[1]);
      const shape = int64s(init?.tensor ?? []);
      if (!init || shape[0] !== 1n || consumers.get(inputs[1]) !== 1) {
        throw new Error(`Reshape ${inputs[1]}: expected a constant shape [1, ...] of its own`);
      }
      init.field.value = int64Tensor(inputs[1], [-1n, ...shape.slice(1)]);
      reshapes += 1;
    }
  }
  if (pads !== zeros.size || reshapes !== 4) {
    throw new Error(`unexpected graph: ${pads} of ${zeros.size} paddings and ${reshapes} of 4 output reshapes rewritten`);
  }
  for (const name of dropInits) {
    const users = nodes.filter((n) => !dropNodes.has(n.field) && strings(n.node, NODE.input).includes(name));
    if (users.length > 0) {
      throw new Error(`initializer ${name} is still used`);
    }
  }

  const out = [];
  for (const f of graph) {
    if (f.no === GRAPH.valueInfo || dropNodes.has(f)) {
      continue;
    }
    if (f.no === GRAPH.initializer && dropInits.has(str(one(parse(f.value), TENSOR.name).value))) {
      continue;
    }
    if (f.no === GRAPH.input || f.no === GRAPH.output) {
      out.push({ ...f, value: batchDim(f.value) });
      continue;
    }
    out.push(f);
  }
  const padFields = [...padInits].map(([channels, name]) => ({
    no: GRAPH.initializer,
    wt: WT_LEN,
    value: int64Tensor(name, [0n, 0n, 0n, 0n, 0n, channels, 0n, 0n]),
  }));
  const firstInit = out.findIndex((f) => f.no === GRAPH.initializer);
  out.splice(firstInit < 0 ? out.length : firstInit, 0, ...padFields);
  graphField.value = serialize(out);
  return serialize(model);
}
