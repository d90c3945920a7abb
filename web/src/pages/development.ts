// The "Development" tab (ad-hoc computations on what you may read).
export async function mount(section: HTMLElement): Promise<void> {
  section.setAttribute("aria-busy", "false");
}
