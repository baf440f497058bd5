"""Product admin. Saves and deletes go through the catalog services, so the admin sends the
same product signals as the API, after commit."""

from django import forms
from django.contrib import admin
from django.db.models import Q

from product.columns import COLUMN_NAMES
from product.lookups import contains
from product.models import Product
from product.services.catalog import (
    EDITABLE_FIELDS,
    create_product,
    delete_product,
    delete_products,
    find_sku_owner,
    update_product,
)


class ProductAdminForm(forms.ModelForm):
    class Meta:
        model = Product
        fields = list(COLUMN_NAMES)

    def clean_sku(self):
        sku = self.cleaned_data["sku"]
        owner = find_sku_owner(sku, exclude_pk=self.instance.pk)
        if owner is not None:
            raise forms.ValidationError(
                f"SKU '{sku}' conflicts with the SKU '{owner.sku}' of product {owner.pk}: "
                "SKUs are unique regardless of letter case."
            )
        return sku


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    form = ProductAdminForm
    list_display = ["sku", "name", "price", "stock_quantity", "is_active", "updated_at"]
    list_filter = ["is_active", "category", "currency"]
    search_fields = ["sku", "name"]
    search_help_text = "SKU or name contains (each word, at least 3 characters is fastest)."
    readonly_fields = ["created_at", "updated_at"]
    list_per_page = 50
    # The "N total" figure is a second COUNT(*) over the whole table on every page view.
    show_full_result_count = False

    def get_search_results(self, request, queryset, search_term):
        """Each word must occur in the SKU or the name, via ILIKE (trigram-indexed):
        the default `icontains` compiles to UPPER(...) LIKE, a sequential scan at 500k rows."""
        for term in search_term.split():
            queryset = queryset.filter(Q(contains("sku", term)) | Q(contains("name", term)))
        return queryset, False

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data[name] for name in form.changed_data}
        values = {name: value for name, value in values.items() if name in EDITABLE_FIELDS}
        if change:
            # The form has already copied its values onto `obj`; the service compares them
            # with the stored row to know what changed.
            stored = Product.objects.get(pk=obj.pk)
            saved = update_product(stored, values)
        else:
            saved = create_product({name: getattr(obj, name) for name in EDITABLE_FIELDS})
        obj.pk, obj.created_at, obj.updated_at = saved.pk, saved.created_at, saved.updated_at

    def delete_model(self, request, obj):
        delete_product(obj)

    def delete_queryset(self, request, queryset):
        delete_products(queryset)
