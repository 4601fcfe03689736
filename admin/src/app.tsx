import type { ComponentChildren } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import type { Role } from '../../src/auth/roles.js'
import { CustomerForm, Customers } from './pages/customers.js'
import { Dashboard } from './pages/dashboard.js'
import { OrderDetail, OrderForm } from './pages/order.js'
import { Orders } from './pages/orders.js'
import { SignIn } from './pages/sign-in.js'
import { Tracking } from './pages/tracking.js'
import { Users } from './pages/users.js'
import { href, match, navigate, useLocation } from './router.js'
import { getSession, type Session, signedOutReason, signOut, subscribe } from './session.js'
import { PageTitle } from './ui.js'

const RANK: Record<Role, number> = { client: 0, operator: 1, admin: 2 }

/** "a client", "an operator", "an admin". */
const withArticle = (role: Role) => `${/^[aeiou]/.test(role) ? 'an' : 'a'} ${role}`

interface Route {
  pattern: string
  role: Role
  page: (params: Record<string, string>) => ComponentChildren
}

const ROUTES: Route[] = [
  { pattern: '/', role: 'operator', page: () => <Dashboard /> },
  { pattern: '/customers', role: 'operator', page: () => <Customers /> },
  { pattern: '/customers/new', role: 'operator', page: () => <CustomerForm /> },
  { pattern: '/customers/:id', role: 'operator', page: (p) => <CustomerForm id={Number(p.id)} key={p.id} /> },
  { pattern: '/orders', role: 'operator', page: () => <Orders /> },
  { pattern: '/orders/new', role: 'operator', page: () => <OrderForm /> },
  { pattern: '/orders/:id', role: 'operator', page: (p) => <OrderDetail id={Number(p.id)} key={p.id} /> },
  { pattern: '/tracking', role: 'client', page: () => <Tracking /> },
  { pattern: '/users', role: 'admin', page: () => <Users /> },
]

const NAV: Array<{ to: string; label: string; role: Role }> = [
  { to: '/', label: 'Dashboard', role: 'operator' },
  { to: '/customers', label: 'Customers', role: 'operator' },
  { to: '/orders', label: 'Orders', role: 'operator' },
  { to: '/tracking', label: 'Tracking', role: 'client' },
  { to: '/users', label: 'Users', role: 'admin' },
]

function useSession(): Session | null {
  const [session, setSession] = useState(getSession)
  useEffect(() => subscribe(() => setSession(getSession())), [])
  return session
}

function page(path: string, role: Role): ComponentChildren {
  // A client may only issue and look up numbers: its home is the tracking page.
  if (path === '/' && RANK[role] < RANK.operator) return <Tracking />
  for (const route of ROUTES) {
    const params = match(route.pattern, path)
    if (!params) continue
    if (RANK[role] < RANK[route.role]) {
      return (
        <>
          <PageTitle title="Not allowed">Not allowed</PageTitle>
          <p>
            This page needs the {route.role} role; you are signed in as {withArticle(role)}.
          </p>
        </>
      )
    }
    return route.page(params)
  }
  return (
    <>
      <PageTitle title="Not found">Page not found</PageTitle>
      <p>
        There is no page here. <a href={href('/')}>Go to the start page</a>.
      </p>
    </>
  )
}

export function App() {
  const session = useSession()
  const { path } = useLocation()
  const first = useRef(true)
  // After each navigation, start keyboard and screen-reader users at the new page's heading.
  useEffect(() => {
    if (first.current) {
      first.current = false
      return
    }
    document.querySelector<HTMLElement>('main h1')?.focus()
  }, [path, session === null])
  // Signed out (here or in a tab sharing this login): whoever signs in next starts at the start
  // page, not at this user's last page. A session that ended on its own comes back where it was.
  const signedOut = session === null && signedOutReason() === 'signed-out'
  useEffect(() => {
    if (signedOut && path !== '/') navigate('/', { replace: true })
  }, [signedOut, path])

  if (!session) return <SignIn reason={signedOutReason()} />
  const active = (to: string) => (to === '/' ? path === '/' : path === to || path.startsWith(`${to}/`))
  return (
    <>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href={href('/')}>
          Waybill
        </a>
        <nav aria-label="Main">
          <ul>
            {NAV.filter((item) => RANK[session.role] >= RANK[item.role]).map((item) => (
              <li key={item.to}>
                <a href={href(item.to)} aria-current={active(item.to) ? 'page' : undefined}>
                  {item.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          <span>
            {session.name} <span class="role">{session.role}</span>
          </span>
          <SignOutButton />
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {page(path, session.role)}
      </main>
    </>
  )
}

function SignOutButton() {
  const [busy, setBusy] = useState(false)
  return (
    <button
      type="button"
      disabled={busy}
      onClick={async () => {
        setBusy(true)
        await signOut()
      }}
    >
      {busy ? 'Signing out…' : 'Sign out'}
    </button>
  )
}
