/** Thresholds of the trip state machine (docs/trips.md has the defaults and why). */
export interface TripSettings {
  /** km/h: a point faster than this is a moving point (Idle → Driving). */
  speedThresholdKmh: number;
  /** ms: a stop (or a silence) this long pauses the trip. */
  idleTimeoutMs: number;
  /** ms: a paused trip that does not move again within this ends. */
  resumeWindowMs: number;
  /** km: a shorter segment is not a trip. */
  minDistanceKm: number;
  /** ms: a shorter segment is not a trip. */
  minDurationMs: number;
  /** km/h: a GPS fix or odometer step implying more than this from the last good one is a glitch. */
  maxPlausibleSpeedKmh: number;
}

export const DEFAULT_TRIP_SETTINGS: Readonly<TripSettings> = {
  speedThresholdKmh: 5,
  idleTimeoutMs: 180_000,
  resumeWindowMs: 300_000,
  minDistanceKm: 0.2,
  minDurationMs: 60_000,
  maxPlausibleSpeedKmh: 250,
};
