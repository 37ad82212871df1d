/**
 * The `deeppowers serve --ui` page: unlock the browser keystore with a passphrase, connect with
 * the server token (kept for this tab's session only), pick a model, give one row (fields made
 * from the model's features and calibrated ranges, a comma-separated line, or a dropped CSV),
 * and predict: keys, upload, encrypted evaluation and client steps show on a progress bar, the
 * decrypted outputs with labels and probabilities, the precision promise, and what the
 * transparency log vouches for. Everything secret stays in this page.
 */
import type { ClientView } from '../../../../compiler/artifact/views';
import type { OutputEntry, RowOutputs } from '../../../run/outputs';
import { BrowserClient, type PredictPhase } from '../browser-client';
import { BrowserKeystore } from '../browser-keystore';
import { DeepPowersError } from '../../../../compiler/errors';
import { entropyOfPhrase } from '../../../client/recovery-phrase';
import '../index';

const TOKEN_KEY = 'deeppowers/token';

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page lacks #${id}`);
  return el as T;
};
const tokenInput = $<HTMLInputElement>('token');
const passphraseInput = $<HTMLInputElement>('passphrase');
const recoverInput = $<HTMLInputElement>('recover');
const connectButton = $<HTMLButtonElement>('connect');
const statusLine = $('status');
const modelSelect = $<HTMLSelectElement>('model');
const modelInfo = $('model-info');
const featuresBox = $('features');
const rowInput = $<HTMLInputElement>('row');
const drop = $('drop');
const predictButton = $<HTMLButtonElement>('predict');
const progress = $<HTMLProgressElement>('progress');
const phaseLine = $('phase');
const resultTable = $('result-table');
const promiseLine = $('promise');
const verifiedLine = $('verified');
const entryBox = $('entry');
const resultJson = $('result');
const fingerprintCode = $('fingerprint');
const phraseBox = $('phrase');

let client: BrowserClient | undefined;
let keystore: BrowserKeystore | undefined;
let view: ClientView | undefined;
let token = sessionStorage.getItem(TOKEN_KEY) ?? '';
tokenInput.value = token;

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

function setStatus(text: string, error = false): void {
  statusLine.textContent = text;
  statusLine.classList.toggle('error', error);
}

connectButton.addEventListener('click', () => void connect());
async function connect(): Promise<void> {
  connectButton.disabled = true;
  try {
    token = tokenInput.value.trim();
    sessionStorage.setItem(TOKEN_KEY, token);
    await client?.close();
    keystore?.close();
    client = undefined;
    setStatus('unlocking the keys in this browser…');
    keystore = await BrowserKeystore.open(passphraseInput.value);
    const phrase = recoverInput.value.trim();
    if (phrase !== '') {
      // The same root `deeppowers keys recover` makes: every key derived from it is byte-identical to the CLI's.
      if ((await keystore.readRecoveryRoot()) !== undefined) throw new Error('this browser already holds a recovery root; a phrase restores keys only into an empty keystore');
      await keystore.writeRecoveryRoot(entropyOfPhrase(phrase));
      recoverInput.value = '';
    }
    setStatus('connecting…');
    client = await BrowserClient.connect({ url: new URL('/mcp', location.href).href, token, keystore });
    const models = await client.listModels();
    modelSelect.replaceChildren(...models.map((m) => new Option(m.model, m.model)));
    modelSelect.disabled = false;
    predictButton.disabled = false;
    setStatus(`connected: ${models.length} model${models.length === 1 ? '' : 's'}; keys in ${keystore.dir}`);
    await chooseModel();
  } catch (e) {
    setStatus(message(e), true);
  } finally {
    connectButton.disabled = false;
  }
}

modelSelect.addEventListener('change', () => void chooseModel());
async function chooseModel(): Promise<void> {
  if (!client) return;
  const name = modelSelect.value;
  const { description, view: v } = await client.describe(name);
  view = v;
  const features = v.input.featureNames ?? Array.from({ length: v.input.shape.reduce((a, b) => a * b, 1) }, (_, i) => `x${i + 1}`);
  modelInfo.textContent = `${description.task ?? 'model'}; ${features.length} input values; outputs ${v.outputs.map((o) => o.name).join(', ')}; CKKS N = ${description.ckks.poly_modulus_degree}`;
  promiseLine.textContent = description.precision ? `Precision promise: the encrypted outputs differ from the plaintext model's by ${description.precision}.` : '';
  // A field per feature only when there are few; an image's 64 pixels go in the row line or a CSV.
  const range = v.inputRange?.range;
  featuresBox.replaceChildren(
    ...(features.length > 16
      ? []
      : features.map((f, i) => {
          const label = document.createElement('label');
          label.textContent = f;
          const input = document.createElement('input');
          input.type = 'number';
          input.step = 'any';
          input.dataset['feature'] = String(i);
          if (range) input.placeholder = `${fmt(range.min[i]!)} … ${fmt(range.max[i]!)}`;
          input.addEventListener('input', () => (rowInput.value = readFields().join(',')));
          label.append(input);
          return label;
        })),
  );
  rowInput.placeholder = features.length > 16 ? `${features.length} numbers, comma-separated` : features.join(', ');
}

function readFields(): string[] {
  return [...featuresBox.querySelectorAll<HTMLInputElement>('input')].map((i) => i.value.trim());
}

function fmt(x: number): string {
  return Number(x.toPrecision(3)).toString();
}

drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const file = e.dataTransfer?.files[0];
  if (file) void file.text().then((text) => (rowInput.value = firstCsvRow(text)));
});

/** The first line of numbers in a CSV (a header line is skipped). */
function firstCsvRow(text: string): string {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
  return lines.find((l) => l.split(',').every((c) => c.trim() !== '' && Number.isFinite(Number(c)))) ?? '';
}

function parseRow(text: string): number[] {
  const cells = text.split(',').map((c) => c.trim());
  const values = cells.map(Number);
  const bad = cells.findIndex((c, i) => c === '' || !Number.isFinite(values[i]!));
  if (bad >= 0) throw new Error(`value ${bad + 1} of the row ("${cells[bad]}") is not a number`);
  return values;
}

const PHASES: Record<PredictPhase['phase'], string> = {
  keys: 'secret key: unlocking or deriving it in this page',
  upload: 'evaluation keys: uploading (public material only)',
  evaluation: 'encrypted evaluation on the server',
  done: 'decrypted in this page',
};

function showPhase(p: PredictPhase): void {
  switch (p.phase) {
    case 'keys':
      progress.value = 5;
      break;
    case 'upload':
      progress.value = 20;
      break;
    case 'evaluation':
      progress.value = 25 + (70 * p.done) / Math.max(1, p.total);
      break;
    case 'done':
      progress.value = 100;
      break;
  }
  const counted = p.phase === 'evaluation' ? ` (${p.done} of ${p.total}${view?.segments ? ', client steps included' : ''})` : '';
  phaseLine.textContent = PHASES[p.phase] + counted;
  phaseLine.classList.remove('error');
}

predictButton.addEventListener('click', () => void predict());
async function predict(): Promise<void> {
  if (!client || !keystore) return;
  const name = modelSelect.value;
  predictButton.disabled = true;
  resultTable.replaceChildren();
  resultJson.textContent = '';
  verifiedLine.textContent = '';
  verifiedLine.className = 'verified';
  entryBox.hidden = true;
  progress.value = 0;
  try {
    const row = parseRow(rowInput.value);
    const hadRoot = (await keystore.readRecoveryRoot()) !== undefined;
    const out = await client.predict(name, [row], showPhase);
    resultJson.textContent = JSON.stringify(out.outputs);
    resultTable.replaceChildren(outputsTable(out.outputs));
    showVerified(out.verification);
    fingerprintCode.textContent = await client.fingerprint(name);
    if (!hadRoot) {
      const phrase = await client.recoveryPhrase();
      phraseBox.hidden = false;
      phraseBox.textContent = `Recovery phrase (shown once; write it down: it rebuilds every key made here): ${phrase}`;
    }
  } catch (e) {
    const text = message(e);
    phaseLine.textContent = `failed: ${text}`;
    phaseLine.classList.add('error');
    // An answer that fails this page's checks (log entry, inclusion proof, checkpoint, attestations,
    // ciphertexts) is BAD_CIPHERTEXT; nothing is decrypted from it. A refusal by the server is not.
    if (e instanceof DeepPowersError && e.code === 'BAD_CIPHERTEXT') {
      verifiedLine.textContent = `not verified: ${text}`;
      verifiedLine.classList.add('bad');
    }
  } finally {
    predictButton.disabled = false;
  }
}

function showVerified(text: string): void {
  verifiedLine.classList.add('ok');
  // "log entry 7" or, with client steps, "log entries 7, 8": each index links to its entry.
  const m = /(log entr(?:y|ies) )(\d+(?:, \d+)*)/.exec(text);
  if (!m) {
    verifiedLine.textContent = text;
    return;
  }
  const indices = m[2]!.split(', ').map(Number);
  const before = text.slice(0, m.index);
  const after = text.slice(m.index + m[0].length);
  if (indices.length === 1) {
    verifiedLine.replaceChildren(before, logLink(indices[0]!, m[0]), after);
    return;
  }
  const listed = indices.flatMap((index, i) => (i === 0 ? [logLink(index, String(index))] : [', ', logLink(index, String(index))]));
  verifiedLine.replaceChildren(before + m[1]!, ...listed, after);
}

/** A link to log entry `index`; the log needs the token, which a plain link cannot carry, so a click fetches it and shows it here. */
function logLink(index: number, text: string): HTMLAnchorElement {
  const link = document.createElement('a');
  link.href = `/log/entries?start=${index}&end=${index + 1}`;
  link.textContent = text;
  link.dataset['testid'] = 'log-link';
  link.addEventListener('click', (e) => {
    e.preventDefault();
    void fetch(link.href, { headers: token ? { Authorization: `Bearer ${token}` } : {} })
      .then((r) => r.text())
      .then((t) => {
        entryBox.hidden = false;
        entryBox.textContent = t;
      });
  });
  return link;
}

function outputsTable(outputs: RowOutputs): HTMLTableElement {
  const table = document.createElement('table');
  for (const [name, rows] of Object.entries(outputs)) {
    const entry = rows[0] as OutputEntry;
    const tr = table.insertRow();
    tr.insertCell().textContent = name;
    const cell = tr.insertCell();
    if (entry !== null && typeof entry === 'object' && !Array.isArray(entry)) {
      // Labels with probabilities (ZipMap): most likely first, each with a bar.
      const sorted = Object.entries(entry).sort((a, b) => b[1] - a[1]);
      cell.replaceChildren(
        ...sorted.map(([label, p]) => {
          const div = document.createElement('div');
          const bar = document.createElement('span');
          bar.className = 'bar';
          bar.style.width = `${Math.max(0, Math.min(1, p)) * 120}px`;
          div.append(`${label}: ${p.toFixed(4)}`, bar);
          return div;
        }),
      );
    } else {
      cell.textContent = Array.isArray(entry) ? entry.map((x) => (typeof x === 'number' ? Number(x.toPrecision(5)) : x)).join(', ') : String(entry);
    }
  }
  return table;
}
