import type { RecentError } from "./mesh-snapshot.js";

/** A ring of the last `capacity` errors: memory stays bounded whatever the error rate. */
export class RecentErrors {
  private readonly ring: RecentError[] = [];
  private next = 0;

  constructor(private readonly capacity: number) {
    if (!(capacity >= 1)) {
      throw new Error("RecentErrors: capacity must be at least 1");
    }
  }

  add(error: RecentError): void {
    if (this.ring.length < this.capacity) {
      this.ring.push(error);
    } else {
      this.ring[this.next] = error;
    }
    this.next = (this.next + 1) % this.capacity;
  }

  /** Newest first. */
  list(): RecentError[] {
    const oldestFirst = this.ring.length < this.capacity ? this.ring : [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
    return [...oldestFirst].reverse();
  }
}
