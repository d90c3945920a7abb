// The "Requests" tab (new computations approved by the data owners they affect).
export async function mount(section: HTMLElement): Promise<void> {
  section.setAttribute("aria-busy", "false");
}
