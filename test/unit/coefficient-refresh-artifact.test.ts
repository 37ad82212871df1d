import { describe, expect, test } from 'vitest';
import { decodeCompiledModel, encodeCompiledModel, finalizeCompiledModel } from '../../compiler/artifact/codec';
import type { BodySegment, CompiledModelContent } from '../../compiler/artifact/types';
import { validateCompiledModel } from '../../compiler/artifact/validate';
import { clientViewFromJson } from '../../compiler/artifact/views';
import { servedModelOf } from '../../runtime/service/load-served-model';
import { clientModelOfView } from '../../runtime/mcp/private-model';
import { CircuitBuilder } from '../../compiler/circuit/builder';
import { countOps, estimateLatency } from '../../compiler/circuit/count';
import { assignScales } from '../../compiler/circuit/passes-scales';
import { clientStepsOf } from '../../compiler/client-steps/table';
import { segmentedTiny } from '../helpers/segmented-tiny';

/**
 * The artifact's record of a coefficient-masked refresh (`masking: "coefficients"` on the segment
 * after it): it survives the manifest and the client view, and an artifact that claims it where the
 * next segment cannot read the result as it is (it rotates the padding into an output) is refused.
 */
function withFirstStep(content: CompiledModelContent, segment: (s: BodySegment) => BodySegment): CompiledModelContent {
  const [first, ...rest] = content.refresh!.segments;
  const { softmax: _softmax, ...plain } = first!;
  return { ...content, refresh: { ...content.refresh!, segments: [segment(plain), ...rest] } };
}

describe('masking: "coefficients" in the artifact', () => {
  const tiny = segmentedTiny();
  const coefficient = withFirstStep(tiny, (s) => ({ ...s, masking: 'coefficients' }));

  test('round-trips through the manifest and the client view as a coefficient-masked refresh', () => {
    const model = finalizeCompiledModel(coefficient);
    const back = decodeCompiledModel(encodeCompiledModel(model));
    expect(back.refresh!.segments[0]!.masking).toBe('coefficients');
    expect(clientStepsOf(back.refresh!).map((s) => s.kind)).toEqual(['coefficient-refresh', 'layernorm']);
    // As served: the client view carries it, and the client reads the step back as a coefficient refresh.
    const view = clientViewFromJson(JSON.parse(JSON.stringify(servedModelOf(back, 'tiny').description.client_view)));
    expect(view.segments![1]!.masking).toBe('coefficients');
    expect(clientModelOfView(view).segments![1]!.step!.knows.kind).toBe('coefficient-refresh');
  });

  test('refused where the next segment reads a padding slot of the result into an output', () => {
    const c = tiny.parameters;
    const b = new CircuitBuilder(c.slots);
    const x = b.input({ kind: 'replicated', size: 2, period: 4 });
    b.output(b.add(x, b.rotate(x, 1)), { kind: 'slots', slots: [0, 1], elements: [0, 1] }); // slot 1 reads slot 2: padding
    const circuit = assignScales(b.finish('vector', 2, 2, 4), c.primesApprox.slice(1, c.levels + 1).reverse());
    const counts = countOps(circuit);
    const bad = withFirstStep(tiny, (s) => ({ ...s, masking: 'coefficients', circuit, cost: { counts, latency: estimateLatency(counts, c.polyModulusDegree) } }));
    expect(() => validateCompiledModel(bad)).toThrow(/segment 2 follows a coefficient-masked refresh but cannot read segment 1's result as it is: the next segment's output 0 depends on the padding slots of its input \(slot 1\)/);
    // The same segment after a slot-masked refresh (the client repacks, zeroing the padding) is valid.
    expect(() => validateCompiledModel({ ...bad, refresh: { ...bad.refresh!, segments: [{ ...bad.refresh!.segments[0]!, masking: undefined }, bad.refresh!.segments[1]!] } })).not.toThrow();
  });
});
