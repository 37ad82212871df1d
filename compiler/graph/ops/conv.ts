import type { Dim } from '../graph';
import { onnxKernel, type NodeView, type OpKernel } from '../kernel';
import { sizeOf } from '../tensor';
import { finishArithmetic } from './dtype';
import { numericOf, optionalNumericOf, optionalTypeOf, requireNumericType, stridesOf, tensorType, typeOf } from './operands';
import { resolveWindow, validateWindowAttributes, windowDims } from './window';

function groupCount(view: NodeView): number {
  const group = view.int('group', 1);
  if (!Number.isInteger(group) || group < 1) view.invalid(`group ${group} must be a positive integer`);
  return group;
}

/**
 * N-d convolution (cross-correlation) over X [N, C, D1…], W [M, C/group, k1…], optional bias [M],
 * with pads, auto_pad, strides, dilations and groups.
 */
const Conv = onnxKernel('Conv', 1, {
  validate: (view) => {
    validateWindowAttributes(view, false);
    groupCount(view);
  },
  infer: (view, types) => {
    const x = requireNumericType(view, typeOf(view, types, 0), 0);
    const w = requireNumericType(view, typeOf(view, types, 1), 1);
    const b = optionalTypeOf(view, types, 2);
    if (!x.shape || !w.shape) return [tensorType(x.dtype, x.shape ? new Array<Dim>(x.shape.length).fill(null) : null)];
    if (x.shape.length < 3 || w.shape.length !== x.shape.length) {
      view.invalid(`X [${x.shape.join(', ')}] and W [${w.shape.join(', ')}] must have the same rank ≥ 3`);
    }
    const group = groupCount(view);
    const [, c] = x.shape;
    const [m, cg] = w.shape;
    if (typeof c === 'number' && typeof cg === 'number' && c !== cg * group) view.invalid(`X has ${c} channels, W expects ${cg} × ${group} groups`);
    if (typeof m === 'number' && m % group !== 0) view.invalid(`${m} output channels do not split into ${group} groups`);
    if (b?.shape && (b.shape.length !== 1 || (typeof b.shape[0] === 'number' && typeof m === 'number' && b.shape[0] !== m))) {
      view.invalid(`bias of shape [${b.shape.join(', ')}] does not match ${m} output channels`);
    }
    const kernelKnown = view.has('kernel_shape') || w.shape.slice(2).every((d) => typeof d === 'number');
    const spatial = kernelKnown
      ? windowDims(view, x.shape.slice(2), { ceilMode: false, kernelFallback: w.shape.slice(2) })
      : x.shape.slice(2).map((): Dim => null);
    return [tensorType(x.dtype, [x.shape[0]!, m!, ...spatial])];
  },
  run: (view, values) => {
    const x = numericOf(view, values, 0);
    const w = numericOf(view, values, 1);
    const bias = optionalNumericOf(view, values, 2);
    const group = groupCount(view);
    if (x.shape.length < 3 || w.shape.length !== x.shape.length) view.invalid(`X [${x.shape.join(', ')}] and W [${w.shape.join(', ')}] must have the same rank ≥ 3`);
    const [batch, channels] = x.shape as [number, number];
    const [m, cg] = w.shape as [number, number];
    if (channels !== cg * group || m % group !== 0) view.invalid(`X has ${channels} channels, W [${w.shape.join(', ')}] with ${group} groups does not fit`);
    if (bias && bias.data.length !== m) view.invalid(`bias has ${bias.data.length} values for ${m} output channels`);
    const spatialIn = x.shape.slice(2);
    const win = resolveWindow(view, spatialIn, { ceilMode: false, kernelFallback: w.shape.slice(2) });
    if (win.kernel.some((k, i) => k !== w.shape[2 + i])) view.invalid(`kernel_shape [${win.kernel.join(', ')}] does not match W [${w.shape.join(', ')}]`);
    const rank = spatialIn.length;
    const outSpatial = win.output;
    const outSize = sizeOf(outSpatial);
    const inSize = sizeOf(spatialIn);
    const kSize = sizeOf(win.kernel);
    const inStrides = stridesOf(spatialIn);
    const outStrides = stridesOf(outSpatial);
    const kStrides = stridesOf(win.kernel);
    const mPerGroup = m / group;

    // For every (output position, kernel offset) pair: the input offset, or -1 in the padding.
    const taps = new Int32Array(outSize * kSize);
    for (let o = 0; o < outSize; o++) {
      for (let k = 0; k < kSize; k++) {
        let offset = 0;
        for (let d = 0; d < rank; d++) {
          const od = Math.floor(o / outStrides[d]!) % outSpatial[d]!;
          const kd = Math.floor(k / kStrides[d]!) % win.kernel[d]!;
          const pos = od * win.strides[d]! - win.padBegin[d]! + kd * win.dilations[d]!;
          if (pos < 0 || pos >= spatialIn[d]!) {
            offset = -1;
            break;
          }
          offset += pos * inStrides[d]!;
        }
        taps[o * kSize + k] = offset;
      }
    }

    const out = new Float64Array(batch * m * outSize);
    for (let nIdx = 0; nIdx < batch; nIdx++) {
      for (let oc = 0; oc < m; oc++) {
        const g = Math.floor(oc / mPerGroup);
        const outBase = (nIdx * m + oc) * outSize;
        const b = bias ? bias.data[oc]! : 0;
        for (let o = 0; o < outSize; o++) {
          let sum = b;
          for (let ic = 0; ic < cg; ic++) {
            const inBase = (nIdx * channels + g * cg + ic) * inSize;
            const wBase = (oc * cg + ic) * kSize;
            for (let k = 0; k < kSize; k++) {
              const t = taps[o * kSize + k]!;
              if (t >= 0) sum += x.data[inBase + t]! * w.data[wBase + k]!;
            }
          }
          out[outBase + o] = sum;
        }
      }
    }
    return [finishArithmetic(x.dtype, [batch, m, ...outSpatial], out)];
  },
});

export const convKernels: readonly OpKernel[] = [Conv];
