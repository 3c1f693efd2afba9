/**
 * AsyncQueue: what a streaming request returns. The producer pushes items
 * (chunks as tokens arrive), then ends or fails it; the consumer iterates
 * with `for await`. Leaving the loop early calls `onCancel` (which stops the
 * generation); items are never dropped and nothing is buffered beyond what
 * the producer pushed.
 */
export class AsyncQueue<T> implements AsyncIterableIterator<T> {
  #items: T[] = [];
  #waiting: Array<{ resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void }> = [];
  #error: unknown;
  #done = false;
  #onCancel: () => void;

  constructor(onCancel: () => void) {
    this.#onCancel = onCancel;
  }

  push(item: T): void {
    if (this.#done) return;
    const waiter = this.#waiting.shift();
    if (waiter) waiter.resolve({ value: item, done: false });
    else this.#items.push(item);
  }

  end(): void {
    this.#finish();
  }

  fail(error: unknown): void {
    if (this.#done) return;
    this.#error = error;
    this.#finish();
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    for (const waiter of this.#waiting.splice(0)) {
      if (this.#error !== undefined) waiter.reject(this.#error);
      else waiter.resolve({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#items.length > 0) return Promise.resolve({ value: this.#items.shift() as T, done: false });
    if (this.#done) {
      if (this.#error !== undefined) {
        const error = this.#error;
        this.#error = undefined; // reported once, then the stream is simply over
        return Promise.reject(error);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  /** Called when a `for await` loop is left early: stop producing. */
  return(): Promise<IteratorResult<T>> {
    if (!this.#done) this.#onCancel();
    this.#items = [];
    this.#done = true;
    this.#error = undefined;
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
