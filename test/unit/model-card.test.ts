import { describe, expect, test } from 'vitest';
import { servedModelOf } from '../../runtime/service/load-served-model';
import { loadFixture } from '../helpers/fixtures';
import { compiledFixture } from '../helpers/compiled-fixture';

/**
 * The card of a model with client steps (pt_mlp_digits_relu, compile --refresh auto): it says
 * how many segments the server runs, that the client sees masked values at each step, that a
 * client that lies at a step can read out later weights, and that the server learns the round
 * trips. The single-circuit card is checked against its manifest in mcp-resources-logging.
 */

const f = loadFixture('pt_mlp_digits_relu');

describe('model card of a body with client steps', () => {
  test('segments, client steps and what each side learns', () => {
    const m = compiledFixture(f, { layout: 'vector', refresh: 'auto' });
    const steps = m.refresh?.segments.length ?? 0;
    expect(steps).toBeGreaterThan(0);
    const { card } = servedModelOf(m, 'digits');
    expect(card.runs.server).toContain(`${steps + 1} segments`);
    expect(card.runs.client_steps).toMatch(/client/);
    expect(card.client_learns.some((l) => l.startsWith('at each client step, masked intermediate values'))).toBe(true);
    expect(card.client_learns.some((l) => /read out the weights/.test(l))).toBe(true);
    expect(card.server_learns).toContain(`that each prediction makes ${steps} client round trip${steps === 1 ? '' : 's'}`);
    // A model without steps says none of this.
    // (pt_mlp_digits_relu as one circuit is over the heap budget; the scikit-learn digits MLP runs as one.)
    const one = servedModelOf(compiledFixture(loadFixture('sk_mlp_digits_relu'), { layout: 'vector' }), 'digits').card;
    expect(one.runs.server).toContain('one circuit');
    expect(one.runs.client_steps).toBeUndefined();
    expect(one.client_learns.join(' ')).not.toMatch(/client step/);
  }, 300_000);
});
