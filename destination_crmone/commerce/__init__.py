"""Commerce events: carts, orders with their lifecycle, payments, guest contacts, order history."""
