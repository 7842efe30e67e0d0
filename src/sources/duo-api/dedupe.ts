/**
 * Event ids recently delivered by one (account, endpoint), to drop the records Duo's paging serves
 * twice (same-second re-reads on v1, inclusive offsets). Memory is bounded: the oldest ids go first.
 */
export class BoundedIdSet {
  readonly #ids = new Set<string>();
  readonly #ring: string[];
  #next = 0;

  constructor(readonly capacity = 20_000) {
    this.#ring = new Array<string>(capacity);
  }

  has(id: string): boolean {
    return this.#ids.has(id);
  }

  add(id: string): void {
    if (this.#ids.has(id)) return;
    const old = this.#ring[this.#next];
    if (old !== undefined) this.#ids.delete(old);
    this.#ring[this.#next] = id;
    this.#next = (this.#next + 1) % this.capacity;
    this.#ids.add(id);
  }

  get size(): number {
    return this.#ids.size;
  }
}
