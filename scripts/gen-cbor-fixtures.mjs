// Regenerates and cross-checks the CBOR fixtures of wsx-core/tests/codec_wire.rs with the
// real cbor-x, configured as the TypeScript wsx client configures it. Not needed by the
// tests; run it when the fixtures or the CBOR codec change.
//
//   npm i --prefix /tmp/cborx cbor-x           # once, outside the repo
//   CBOR_X_DIR=/tmp/cborx node scripts/gen-cbor-fixtures.mjs
//       prints cbor-x's bytes for the four fixture frames (the CBOR_X_* constants)
//   cargo test -q -p wsx-core --test codec_wire -- --nocapture cbor_fixture_lines \
//     | grep '^{' | CBOR_X_DIR=/tmp/cborx node scripts/gen-cbor-fixtures.mjs --check
//       decodes our encodings with cbor-x and compares them with the same frames
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const require = createRequire(`${process.env.CBOR_X_DIR ?? process.cwd()}/`);
const { Encoder, Decoder } = require('cbor-x');

// The TypeScript wsx client's CborSerializer (src/shared/serializer.ts): records are on.
const encoder = new Encoder({ mapsAsObjects: false });
const clientDecoder = new Decoder({ mapsAsObjects: false });
// A generic CBOR peer reading standard maps as objects.
const mapsDecoder = new Decoder({ mapsAsObjects: true });

const frames = {
  request: { v: '1.0', t: 'request', x: 'join', id: '1737100000000-k3j9x2m1q', w: 1737100000000,
    p: { username: 'alice', room: 'general' } },
  response_ok: { v: '1.0', t: 'response_ok', x: 'listUsers', id: '1737100000001-abc', w: 1737100000001,
    p: { users: [{ name: 'alice', age: 30 }, { name: 'bob', age: 41.5 }], rooms: [[1, 2], [3]] } },
  send: { v: '1.0', t: 'send', x: 'sendMessage',
    p: { message: 'hi', n: -7, f: 0.5, big: 9007199254740992, ok: false, nil: null } },
  response_error: { v: '1.0', t: 'response_error', x: 'join', id: '1737100000002-zz', w: 1737100000002,
    e: { message: 'nope', cause: undefined } },
};

const hex = (bytes) => Buffer.from(bytes).toString('hex');
// JSON drops `undefined` keys, as our decoder does; a generic CBOR peer reads 64-bit
// integers exactly (cbor-x gives a BigInt), so compare their values.
const plain = (value) => JSON.parse(JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? Number(v) : v)));
// What the TypeScript client must never see in a records reply: a Map (it drops the
// message) or a BigInt (a zod `number` schema refuses it).
const hasExotic = (value) => value instanceof Map || typeof value === 'bigint'
  || (value !== null && typeof value === 'object' && Object.values(value).some(hasExotic));

if (process.argv.includes('--check')) {
  let checked = 0;
  for (const line of readFileSync(0, 'utf8').split('\n').filter((l) => l.startsWith('{'))) {
    const { codec, frame, hex: ours } = JSON.parse(line);
    const decoder = codec === 'cbor_records' ? clientDecoder : mapsDecoder;
    const decoded = decoder.decode(Buffer.from(ours, 'hex'));
    if (codec === 'cbor_records') {
      assert.ok(!hasExotic(decoded), `${codec} ${frame}: the client would see a Map or BigInt`);
    }
    assert.deepEqual(plain(decoded), plain(frames[frame]), `${codec} ${frame}`);
    checked += 1;
  }
  assert.ok(checked > 0, 'no encodings on stdin');
  console.log(`cbor-x decodes all ${checked} encodings into the expected frames`);
} else {
  for (const [name, frame] of Object.entries(frames)) {
    console.log(`${name}: ${hex(encoder.encode(frame))}`);
  }
}
