// Renders labelled cartoon faces (facesjs) as raw RGB pixels, for dcgan/faces.py.
//
//   node render.mjs --config JSON --seed S --start A --count N --size 64 --pixels out.rgb --attributes out.jsonl
//       faces A .. A+N-1 of base seed S: N*size*size*3 bytes of uint8 RGB (row-major, on white) to
//       --pixels, and one JSON line per face ({"index", "gender", "glasses", "smiling", "face"}) to
//       --attributes.
//   node render.mjs --faces in.jsonl --size 64 --pixels out.rgb
//       draws the given face objects (one JSON per line, as facesjs makes them) instead.
//
// --config holds the choices dcgan/faces.py makes (its module is their one source):
//   {"glasses": [ids drawn for "glasses"], "smiling": [mouth ids], "plain": [mouth ids], "view": [x, y, side]}
//
// Determinism: facesjs draws with Math.random; here it is a mulberry32 PRNG seeded afresh for each face
// from (seed, index), so face i is the same whatever --start and --count (a render of N faces begins
// with the render of its first k). Gender, glasses and smiling come from a shuffled block of the 8
// combinations per 8 faces (seeded by the block), so any 8 aligned faces hold each combination once.
import { openSync, writeSync, closeSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { generate, faceToSvgString } from "facesjs";
import { Resvg } from "@resvg/resvg-js";

const { values: args } = parseArgs({
  options: {
    config: { type: "string" },
    seed: { type: "string", default: "0" },
    start: { type: "string", default: "0" },
    count: { type: "string", default: "1" },
    size: { type: "string", default: "64" },
    pixels: { type: "string" },
    attributes: { type: "string" },
    faces: { type: "string" },
    svg: { type: "boolean", default: false }, // debugging: print the first face's SVG to stdout
  },
});

const config = JSON.parse(args.config ?? "{}");
const view = config.view ?? [0, 0, 400]; // the square of facesjs's 400x600 picture to draw
const size = Number(args.size);
const seed = Number(args.seed) >>> 0;
const start = Number(args.start);
const count = Number(args.count);
const BATCH = 128; // faces per write: the files grow as we go, which is how the caller sees progress

function mulberry32(state) {
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mix(h) {
  // murmur3's finaliser: every input bit reaches every output bit
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function streamSeed(stream, index) {
  return mix(mix(mix(seed) ^ stream) ^ index);
}

function choice(random, items) {
  return items[Math.floor(random() * items.length)];
}

// Class 0..7 of face `index`: 4*female + 2*glasses + smiling (dcgan/faces.py's FACE_CLASSES order).
function faceClass(index) {
  const random = mulberry32(streamSeed(1, Math.floor(index / 8)));
  const order = [0, 1, 2, 3, 4, 5, 6, 7];
  for (let i = 7; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order[index % 8];
}

function makeFace(index) {
  const kind = faceClass(index);
  const female = kind >= 4;
  const glasses = (kind & 2) !== 0;
  const smiling = (kind & 1) !== 0;
  const random = mulberry32(streamSeed(0, index));
  const saved = Math.random;
  Math.random = random;
  let face;
  try {
    face = generate(undefined, { gender: female ? "female" : "male" });
  } finally {
    Math.random = saved;
  }
  face.gender = female ? "female" : "male"; // not in facesjs's face object, which does not need it to draw
  face.glasses.id = glasses ? choice(random, config.glasses) : "none";
  face.mouth.id = choice(random, smiling ? config.smiling : config.plain);
  return { index, gender: female ? "female" : "male", glasses, smiling, face };
}

function faceSvg(face) {
  const svg = faceToSvgString(face);
  return svg.replace('viewBox="0 0 400 600"', `viewBox="${view[0]} ${view[1]} ${view[2]} ${view[2]}"`);
}

function rasterise(face) {
  const svg = faceSvg(face);
  const image = new Resvg(svg, {
    fitTo: { mode: "width", value: size },
    background: "white",
    font: { loadSystemFonts: false }, // faces hold no text; loading the fonts costs more than drawing
  }).render();
  if (image.width !== size || image.height !== size) {
    throw new Error(`rendered ${image.width}x${image.height}, not ${size}x${size}`);
  }
  const rgba = image.pixels;
  const rgb = Buffer.alloc(size * size * 3);
  for (let p = 0, q = 0; p < rgba.length; p += 4, q += 3) {
    rgb[q] = rgba[p];
    rgb[q + 1] = rgba[p + 1];
    rgb[q + 2] = rgba[p + 2];
  }
  return rgb;
}

function main() {
  if (!args.pixels) throw new Error("--pixels is required");
  let faces;
  if (args.faces) {
    faces = readFileSync(args.faces, "utf8")
      .split("\n")
      .filter((line) => line.trim())
      .map((line) => JSON.parse(line));
  } else {
    if (!config.glasses || !config.smiling || !config.plain) throw new Error("--config needs glasses, smiling, plain");
    faces = null;
  }
  const total = faces ? faces.length : count;
  if (args.svg) {
    process.stdout.write(faceSvg(faces ? faces[0] : makeFace(start).face) + "\n");
    return;
  }
  const pixelsOut = openSync(args.pixels, "w");
  const attributesOut = args.attributes ? openSync(args.attributes, "w") : null;
  try {
    for (let first = 0; first < total; first += BATCH) {
      const chunks = [];
      const lines = [];
      for (let k = first; k < Math.min(first + BATCH, total); k++) {
        if (faces) {
          chunks.push(rasterise(structuredClone(faces[k])));
        } else {
          const made = makeFace(start + k);
          // recorded before drawing: facesjs's display() edits the face (hair under a hat), and
          // drawing an edited face again would not give the same picture
          lines.push(JSON.stringify(made) + "\n");
          chunks.push(rasterise(made.face));
        }
      }
      // attributes first: a reader that sees the pixels of a batch also finds its attributes
      if (attributesOut !== null && lines.length) writeSync(attributesOut, lines.join(""));
      writeSync(pixelsOut, Buffer.concat(chunks));
    }
  } finally {
    closeSync(pixelsOut);
    if (attributesOut !== null) closeSync(attributesOut);
  }
}

main();
