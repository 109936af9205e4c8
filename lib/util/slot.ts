// A value carried beside an object, never inside it: a private class field stamped on by the
// "return override" of a base constructor. Invisible to JSON.stringify, Object.keys,
// Reflect.ownKeys, spread and deepStrictEqual, gone with the object (memory stays flat), and about
// ten times cheaper per object than a non-enumerable symbol property (Object.defineProperty).

/** Where one kind of value rides on objects. */
export interface Slot<T> {
  get(object: object): T | undefined
  set(object: object, value: T): void
}

/**
 * The slot named `name`, shared by every copy of this module in a process (a plugin bundling its
 * own event-hydrator, say) through a global registry, so each sees the values the others set.
 * Objects a private field cannot be added to (proxies, frozen or non-extensible objects) use a
 * WeakMap when `fallback` is true, and carry nothing otherwise.
 */
export function globalSlot<T>(name: string, fallback: boolean): Slot<T> {
  const key = Symbol.for(name)
  return ((globalThis as Record<symbol, Slot<T> | undefined>)[key] ??= makeSlot<T>(fallback))
}

function makeSlot<T>(useFallback: boolean): Slot<T> {
  class Stamp {
    constructor(object: object) {
      return object
    }
  }
  class Slotted extends Stamp {
    #value: T
    constructor(object: object, value: T) {
      super(object)
      this.#value = value
    }
    static get(object: object): T | undefined {
      return #value in object ? (object as Slotted).#value : fallback?.get(object)
    }
    static set(object: object, value: T): void {
      if (#value in object) (object as Slotted).#value = value
      else {
        try {
          new Slotted(object, value)
        } catch {
          fallback?.set(object, value)
        }
      }
    }
  }
  const fallback = useFallback ? new WeakMap<object, T>() : undefined
  return { get: Slotted.get, set: Slotted.set }
}
