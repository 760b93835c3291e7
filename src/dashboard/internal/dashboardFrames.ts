/**
 * The dashboard's recent past, kept as the encoded frames it sent: bounded by a count and by bytes,
 * oldest dropped first. Frames are shared by every viewer (never copied per connection), so the
 * history costs its bytes once, whatever the number of viewers. Pure: no Effect, no clock.
 */

export class FrameHistory {
  private readonly kept: Array<Uint8Array> = []
  private total = 0

  constructor(readonly maxFrames: number, readonly maxBytes: number) {}

  /**
   * Keeps `frame`, dropping the oldest frames past either bound. A frame larger than `maxBytes` on
   * its own empties the history: the bound holds even then.
   */
  push(frame: Uint8Array): void {
    if (this.maxFrames === 0) return
    this.kept.push(frame)
    this.total += frame.byteLength
    while (this.kept.length > this.maxFrames || (this.total > this.maxBytes && this.kept.length > 0)) {
      this.total -= this.kept.shift()!.byteLength
    }
  }

  /** The frames kept, oldest first (a copy of the list; the frames themselves are shared). */
  frames(): ReadonlyArray<Uint8Array> {
    return this.kept.slice()
  }
}
