/**
 * Bytes of MCP request bodies held in memory (read, parsed, or being evaluated) and not yet
 * answered, per tenant and overall. Each tenant's share is below the server's total, so one tenant
 * sending many large messages at once is told it is busy while the others keep being served.
 */
export interface BytesInFlightLimits {
  readonly maxBytesInFlight: number;
  readonly maxBytesInFlightPerTenant: number;
}

export class BytesInFlight {
  private total = 0;
  private readonly byTenant = new Map<string, number>();

  constructor(private readonly limits: BytesInFlightLimits) {}

  /** Account `bytes` more for `tenant`, or say why not (nothing is accounted then). */
  tryAdd(tenant: string, bytes: number): string | undefined {
    const mine = this.byTenant.get(tenant) ?? 0;
    const perTenant = Math.min(this.limits.maxBytesInFlightPerTenant, this.limits.maxBytesInFlight);
    if (mine + bytes > perTenant) {
      return `server busy for you: ${mib(mine)} of your request bodies are in flight and this one adds ${mib(bytes)} (at most ${mib(perTenant)} per tenant); retry when one is answered`;
    }
    if (this.total + bytes > this.limits.maxBytesInFlight) {
      return `server busy: ${mib(this.total)} of request bodies are in flight (at most ${mib(this.limits.maxBytesInFlight)}); retry shortly`;
    }
    this.total += bytes;
    this.byTenant.set(tenant, mine + bytes);
    return undefined;
  }

  remove(tenant: string, bytes: number): void {
    this.total -= bytes;
    const left = (this.byTenant.get(tenant) ?? 0) - bytes;
    if (left > 0) this.byTenant.set(tenant, left);
    else this.byTenant.delete(tenant);
  }

  /** Bytes in flight for `tenant`, or overall when no tenant is given. */
  held(tenant?: string): number {
    return tenant === undefined ? this.total : (this.byTenant.get(tenant) ?? 0);
  }
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}
