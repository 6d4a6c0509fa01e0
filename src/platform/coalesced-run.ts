/**
 * Runs `work` when woken, one run at a time: a wake-up during a run asks for one more run
 * right after it, however many arrive (NOTIFY wake-ups are coalesced, never queued). The
 * engine, the event sequencer and each process's event feed are driven this way.
 */
export class CoalescedRun {
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    private readonly work: () => Promise<unknown>,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** A run is under way. */
  get busy(): boolean {
    return this.running !== undefined;
  }

  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.work()
      .then(() => undefined)
      .catch(this.onError)
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }

  /** No more runs; waits for the one under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }
}
