// A minimal PNG encoder (8-bit gray or RGB, no filtering) so images show in notebooks without a canvas.
import * as zlib from "zlib";

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, body: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.write(type, 4, "ascii");
  Buffer.from(body).copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + body.length)), 8 + body.length);
  return out;
}

/** PNG bytes of an HWC uint8 image with 1 or 3 channels, each pixel repeated `scale` times in x and y. */
export function encodePng(data: Uint8Array, height: number, width: number, channels: 1 | 3, scale = 1): Buffer {
  const W = width * scale;
  const H = height * scale;
  const raw = Buffer.alloc(H * (1 + W * channels));
  for (let y = 0; y < H; y++) {
    const o = y * (1 + W * channels); // filter byte 0 (none), then the row
    const sy = Math.floor(y / scale);
    for (let x = 0; x < W; x++) {
      const s = (sy * width + Math.floor(x / scale)) * channels;
      for (let c = 0; c < channels; c++) raw[o + 1 + x * channels + c] = data[s + c];
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(W, 0);
  ihdr.writeUInt32BE(H, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = channels === 3 ? 2 : 0; // colour type: truecolour or gray
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", zlib.deflateSync(raw)),
    chunk("IEND", new Uint8Array(0)),
  ]);
}
