import { loadOrCreateIdentity } from '../../runtime/network/identity';
import { NodeList, nodeListLine, TrustedNodes, type ListedRole } from '../../runtime/network/node-list';

/** The nodes list an operator would write for workers whose data dirs are given (their keys are made here on first use). */
export function trustedNodesOf(nodes: readonly (readonly [dataDir: string, role: ListedRole])[]): TrustedNodes {
  const lines = nodes.map(([dir, role]) => nodeListLine(loadOrCreateIdentity(dir, 'node'), role));
  return new TrustedNodes(NodeList.parse(lines.join('\n'), 'nodes.txt'));
}
